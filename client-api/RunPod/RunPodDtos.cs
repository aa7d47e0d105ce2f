using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrleansDiffusion.Api.RunPod;

/// <summary>
/// The body of <c>/run</c> and <c>/runsync</c>: <c>input</c> (an AUTOMATIC1111 txt2img or img2img body, or the
/// <c>{"api": {"method", "endpoint"}, "payload"}</c> wrapper some A1111 workers take) and RunPod's optional
/// <c>policy</c>. RunPod names these fields in camelCase, unlike the A1111 body inside.
/// </summary>
public sealed record RunPodRequest
{
    [JsonPropertyName("input")]
    public JsonElement? Input { get; init; }

    [JsonPropertyName("webhook")]
    public string? Webhook { get; init; }

    [JsonPropertyName("webhookV2")]
    public string? WebhookV2 { get; init; }

    [JsonPropertyName("policy")]
    public RunPodPolicy? Policy { get; init; }

    [JsonPropertyName("s3Config")]
    public JsonElement? S3Config { get; init; }
}

/// <summary>RunPod's execution policy, in milliseconds.</summary>
public sealed record RunPodPolicy
{
    /// <summary>The longest the job may run once started (RunPod: more than 5000 ms).</summary>
    [JsonPropertyName("executionTimeout")]
    public long? ExecutionTimeout { get; init; }

    /// <summary>The longest the job may exist unfinished, queued and running (RunPod: 10 s to a week).</summary>
    [JsonPropertyName("ttl")]
    public long? Ttl { get; init; }

    /// <summary>RunPod's "do not scale up for this job"; accepted, it changes nothing here.</summary>
    [JsonPropertyName("lowPriority")]
    public bool? LowPriority { get; init; }
}

/// <summary>
/// A job as RunPod shows it: <c>id</c>, <c>status</c> (<c>IN_QUEUE</c>, <c>IN_PROGRESS</c>, <c>COMPLETED</c>,
/// <c>FAILED</c>, <c>CANCELLED</c>, <c>TIMED_OUT</c>), <c>delayTime</c> (ms in the queue) while it runs, and the
/// <c>output</c> (the A1111 answer) or <c>error</c>. RunPod's <c>executionTime</c> is not given: a finished job's start
/// is not kept.
/// </summary>
public sealed record RunPodJob(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("delayTime")] long? DelayTime = null,
    [property: JsonPropertyName("output")] object? Output = null,
    [property: JsonPropertyName("error")] string? Error = null);

/// <summary>What <c>/stream</c> returns: the job's status and the chunks produced since the call began.</summary>
public sealed record RunPodStream(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("stream")] IReadOnlyList<RunPodStreamChunk> Stream,
    [property: JsonPropertyName("error")] string? Error = null);

public sealed record RunPodStreamChunk([property: JsonPropertyName("output")] object Output);

/// <summary><c>/health</c>: the cluster's inferences and inference silos.</summary>
public sealed record RunPodHealth(
    [property: JsonPropertyName("jobs")] RunPodHealthJobs Jobs,
    [property: JsonPropertyName("workers")] RunPodHealthWorkers Workers);

public sealed record RunPodHealthJobs(
    [property: JsonPropertyName("completed")] long Completed,
    [property: JsonPropertyName("failed")] long Failed,
    [property: JsonPropertyName("inProgress")] long InProgress,
    [property: JsonPropertyName("inQueue")] long InQueue,
    [property: JsonPropertyName("retried")] long Retried);

public sealed record RunPodHealthWorkers(
    [property: JsonPropertyName("idle")] int Idle,
    [property: JsonPropertyName("running")] int Running);

/// <summary>RunPod's error body.</summary>
public sealed record RunPodError([property: JsonPropertyName("error")] string Error);
