using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Automatic1111;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;

namespace OrleansDiffusion.Api.RunPod;

/// <summary>
/// RunPod's serverless queue API under <c>{prefix}/{endpoint_id}</c>, as RunPod's SDKs and clients of its AUTOMATIC1111
/// workers call it: <c>input</c> is an A1111 txt2img or img2img body and <c>output</c> is A1111's answer (base64 PNGs,
/// <c>parameters</c>, <c>info</c>). Jobs are native jobs: a job is visible to the key that made it only, and its id is
/// the native id. Any endpoint id is accepted and names no particular model. Errors are RunPod's <c>{"error"}</c>.
/// </summary>
public static class RunPodEndpoints
{
    /// <summary>RunPod's <c>?wait=</c> on <c>/runsync</c> and <c>/status-sync</c>, in milliseconds: default, least, most.</summary>
    private const int DefaultWaitMs = 90_000;
    private const int MinWaitMs = 1_000;
    private const int MaxWaitMs = 300_000;

    /// <summary>RunPod's bounds on a policy: an execution timeout above 5 s, a ttl from 10 s to a week.</summary>
    private const long MinExecutionTimeoutMs = 5_000;
    private const long MinTtlMs = 10_000;
    private const long MaxTtlMs = 7L * 24 * 60 * 60 * 1000;

    /// <summary>
    /// How long one <c>/stream</c> call waits for something new. RunPod's Python SDK gives up on a call after 10 s, so
    /// a call must answer before that, even with nothing to say.
    /// </summary>
    private static readonly TimeSpan StreamWait = TimeSpan.FromSeconds(5);

    /// <summary>How long a <c>/stream</c> call goes on collecting steps after the first one it sees.</summary>
    private static readonly TimeSpan StreamLinger = TimeSpan.FromMilliseconds(250);

    public static IEndpointRouteBuilder MapRunPodApi(this IEndpointRouteBuilder app)
    {
        var prefix = app.ServiceProvider.GetRequiredService<IOptions<RunPodOptions>>().Value.Prefix;
        var group = app.MapGroup(prefix + "/{endpoint}")
            .WithTags("RunPod")
            .WithMetadata(RunPodErrorShape.Instance)
            .RequireAuthorization()
            .RequireRateLimiting(ApiHostingExtensions.PerKeyReadPolicy);

        // Submitting spends the submit budget; reading, waiting, streaming and cancelling spend the read budget.
        group.MapPost("/run", RunAsync).WithName("RunPodRun").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapPost("/runsync", RunSyncAsync).WithName("RunPodRunSync").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapMethods("/status/{id}", [HttpMethods.Get, HttpMethods.Post], StatusAsync).WithName("RunPodStatus");
        group.MapGet("/status-sync/{id}", StatusSyncAsync).WithName("RunPodStatusSync");
        group.MapMethods("/stream/{id}", [HttpMethods.Get, HttpMethods.Post], StreamAsync).WithName("RunPodStream");
        group.MapPost("/cancel/{id}", CancelAsync).WithName("RunPodCancel");
        group.MapGet("/health", HealthAsync).WithName("RunPodHealth");
        group.MapPost("/purge-queue", () => NotOffered("purge-queue is not offered: cancel each job with /cancel/{id}.")).WithName("RunPodPurgeQueue");
        group.MapPost("/retry/{id}", () => NotOffered("retry is not offered: submit the input again with /run (an identical request is answered from the cache).")).WithName("RunPodRetry");
        return app;
    }

    /// <summary>Queues the job and answers at once with its id and status.</summary>
    public static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> RunAsync(
        HttpRequest http, GenerationService generations, IGrainFactory grains, IOptions<JsonOptions> json, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var accepted = await AcceptAsync(http, generations, grains, json.Value.SerializerOptions, user, cancellationToken);
        return accepted.Error is { } error
            ? error
            : TypedResults.Ok(new RunPodJob(accepted.Id.ToString(), StatusOf(accepted.Snapshot!, timedOut: false)));
    }

    /// <summary>Queues the job and waits for it up to <c>?wait=</c> ms (90 s): the finished job, else its id and status.</summary>
    public static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> RunSyncAsync(
        HttpRequest http,
        [FromQuery(Name = "wait")] string? wait,
        GenerationService generations,
        IGrainFactory grains,
        IOptions<JsonOptions> json,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (WaitOf(wait) is not { } waitFor)
        {
            return BadWait();
        }

        var accepted = await AcceptAsync(http, generations, grains, json.Value.SerializerOptions, user, cancellationToken);
        if (accepted.Error is { } error)
        {
            return error;
        }

        // The job is accepted: a client that stops waiting finds it with /status, as on RunPod.
        var final = await WaitUpToAsync(generations, accepted.Id, waitFor, cancellationToken);
        return await JobAsync(final, generations, grains, json.Value.SerializerOptions, cancellationToken);
    }

    public static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> StatusAsync(
        string id, GenerationService generations, IGrainFactory grains, IOptions<JsonOptions> json, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var snapshot = await VisibleAsync(id, generations, user);
        return snapshot is null ? NotFound() : await JobAsync(snapshot, generations, grains, json.Value.SerializerOptions, cancellationToken);
    }

    /// <summary>The status once the job has finished, or after <c>?wait=</c> ms (what RunPod's JS SDK's runSync polls).</summary>
    public static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> StatusSyncAsync(
        string id,
        [FromQuery(Name = "wait")] string? wait,
        GenerationService generations,
        IGrainFactory grains,
        IOptions<JsonOptions> json,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (WaitOf(wait) is not { } waitFor)
        {
            return BadWait();
        }

        if (await VisibleAsync(id, generations, user) is not { } snapshot)
        {
            return NotFound();
        }

        var final = snapshot.IsTerminal ? snapshot : await WaitUpToAsync(generations, snapshot.Id, waitFor, cancellationToken);
        return await JobAsync(final, generations, grains, json.Value.SerializerOptions, cancellationToken);
    }

    /// <summary>
    /// What happens to the job during the call, up to <see cref="StreamWait"/>: a chunk of A1111 progress
    /// (<c>/sdapi/v1/progress</c>'s shape, with the step's preview) for each step from the next one on, for
    /// <see cref="StreamLinger"/>, and the A1111 answer as the last chunk when the job finishes during the call. A job
    /// already finished yields no chunk (its output is in <c>/status</c>), so RunPod's SDKs, which call again until a
    /// finished status comes with no chunks, stop. Nothing is kept per caller: RunPod keeps what a stream has not yet
    /// delivered, which would be state per job and reader.
    /// </summary>
    public static async Task<Results<Ok<RunPodStream>, JsonHttpResult<RunPodError>>> StreamAsync(
        string id, GenerationService generations, IGrainFactory grains, IOptions<JsonOptions> json, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (await VisibleAsync(id, generations, user) is not { } snapshot)
        {
            return NotFound();
        }

        if (snapshot.IsTerminal)
        {
            return TypedResults.Ok(new RunPodStream(snapshot.Id.ToString(), await StatusOfAsync(snapshot, grains), [], snapshot.Error));
        }

        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        window.CancelAfter(StreamWait);
        var steps = new List<InferenceEvent>();
        var seen = 0;
        void OnEvent(InferenceEvent inferenceEvent)
        {
            // The first event is the state the watch starts from, which the client may have had already.
            if (Interlocked.Increment(ref seen) == 1 || inferenceEvent.Kind is not (InferenceEventKind.Started or InferenceEventKind.Progress))
            {
                return;
            }

            lock (steps)
            {
                steps.Add(inferenceEvent);
                if (steps.Count == 1)
                {
                    // Steps that follow closely come in the same answer rather than fall between two calls.
                    window.CancelAfter(StreamLinger);
                }
            }
        }

        JobSnapshot? final = null;
        try
        {
            final = await generations.WaitAsync(snapshot.Id, window.Token, OnEvent);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A step came, or nothing did within the window.
        }

        if (final is { IsTerminal: true })
        {
            if (await ToRunPodAsync(final, generations, grains, json.Value.SerializerOptions, cancellationToken) is not { } finished)
            {
                return ImagesGone(final.Id);
            }

            List<RunPodStreamChunk> all;
            lock (steps)
            {
                all = [.. steps.Select(step => new RunPodStreamChunk(Progress(step, final)))];
            }

            if (finished.Output is { } output)
            {
                all.Add(new RunPodStreamChunk(output));
            }

            return TypedResults.Ok(new RunPodStream(finished.Id, finished.Status, all, finished.Error));
        }

        var now = await generations.Job(snapshot.Id).GetSnapshot();
        RunPodStreamChunk[] chunks;
        lock (steps)
        {
            chunks = [.. steps.Select(step => new RunPodStreamChunk(Progress(step, now)))];
        }

        return TypedResults.Ok(new RunPodStream(now.Id.ToString(), await StatusOfAsync(now, grains), chunks, now.Error));
    }

    /// <summary>Cancels a queued or running job; a finished one is answered with its status unchanged.</summary>
    public static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> CancelAsync(
        string id, GenerationService generations, IGrainFactory grains, ClaimsPrincipal user)
    {
        if (await VisibleAsync(id, generations, user) is not { } snapshot)
        {
            return NotFound();
        }

        var after = snapshot.IsTerminal ? snapshot : await generations.Job(snapshot.Id).Cancel();
        return TypedResults.Ok(new RunPodJob(after.Id.ToString(), await StatusOfAsync(after, grains)));
    }

    /// <summary>
    /// The cluster's inferences since its queue overview started (completed, given up as failed, put back to retry) and
    /// now (running, queued), and its silos: running inferences, or idle.
    /// </summary>
    public static async Task<Ok<RunPodHealth>> HealthAsync(IGrainFactory grains)
    {
        var queue = grains.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
        var stats = await queue.GetStats();
        var signal = await queue.GetScaleSignal();
        var running = stats.RunningBySilo.Count(s => s.Value > 0);
        return TypedResults.Ok(new RunPodHealth(
            new RunPodHealthJobs(stats.Completed, stats.GaveUp, stats.Running, stats.Pending, stats.Requeued),
            new RunPodHealthWorkers(Math.Max(0, signal.ActiveSilos - running), running)));
    }

    /// <summary>
    /// Reads, checks and submits a <c>/run</c> or <c>/runsync</c> body; nothing is kept when it is refused. A policy's
    /// limits are armed once the job is accepted (and the job cancelled if they cannot be).
    /// </summary>
    private static async Task<Accepted> AcceptAsync(
        HttpRequest http, GenerationService generations, IGrainFactory grains, JsonSerializerOptions json, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        static Accepted Refuse(int status, string message) => new(Guid.Empty, null, RunPodErrorShape.Result(status, message));

        var body = await JsonBody.ReadAsync<RunPodRequest>(http, json, cancellationToken);
        if (body.Value is not { } request)
        {
            return Refuse(body.StatusCode, body.Error!);
        }

        if (Unsupported(request) is { } unsupported)
        {
            return Refuse(StatusCodes.Status400BadRequest, unsupported);
        }

        if (PolicyProblem(request.Policy) is { } policyProblem)
        {
            return Refuse(StatusCodes.Status400BadRequest, policyProblem);
        }

        var (a1111, img2img, inputProblem) = ReadInput(request.Input, json);
        if (a1111 is null)
        {
            return Refuse(StatusCodes.Status400BadRequest, inputProblem!);
        }

        var apiKey = GenerationEndpoints.ApiKeyOf(user);
        var plan = await Automatic1111Mapping.PlanAsync(a1111, img2img, grains, apiKey);
        if (plan.Generation is not { } generation)
        {
            return Refuse(StatusCodes.Status400BadRequest, $"input: {plan.Refusal}");
        }

        var id = await generations.NewIdAsync();
        try
        {
            var snapshot = await generations.SubmitAsync(id, generation.Native, apiKey, generation.Inpaint, cancellationToken);
            if (request.Policy is { ExecutionTimeout: not null } or { Ttl: not null } && !snapshot.IsTerminal)
            {
                await ArmAsync(generations, grains, id, snapshot, request.Policy);
            }

            return new(id, snapshot, null);
        }
        catch (Exception e) when (ApiFaults.Answer(e, http.HttpContext) is { } fault)
        {
            return Refuse(fault.StatusCode, fault.Message);
        }
    }

    private static async Task ArmAsync(GenerationService generations, IGrainFactory grains, Guid id, JobSnapshot snapshot, RunPodPolicy policy)
    {
        var deadlines = new JobDeadlines(
            snapshot.CreatedAt,
            policy.Ttl is { } ttl ? TimeSpan.FromMilliseconds(ttl) : null,
            policy.ExecutionTimeout is { } execution ? TimeSpan.FromMilliseconds(execution) : null);
        try
        {
            await grains.GetGrain<IJobDeadlineGrain>(id).Arm(deadlines);
        }
        catch (Exception)
        {
            // The client is told the job was refused: it must not run unbounded.
            generations.Job(id).Cancel().Ignore();
            throw;
        }
    }

    /// <summary>RunPod's options this endpoint cannot honour: refused rather than silently dropped.</summary>
    private static string? Unsupported(RunPodRequest request) =>
        request.Webhook is not null || request.WebhookV2 is not null
            ? "webhook: this endpoint sends no webhooks; poll /status or /stream for the result."
            : request.S3Config is { ValueKind: not JsonValueKind.Null }
                ? "s3Config: this endpoint does not upload to S3; the images come back in the output."
                : null;

    private static string? PolicyProblem(RunPodPolicy? policy) => policy switch
    {
        { ExecutionTimeout: <= MinExecutionTimeoutMs or > MaxTtlMs } => $"policy.executionTimeout must be more than {MinExecutionTimeoutMs} ms and at most {MaxTtlMs} ms (a week).",
        { Ttl: < MinTtlMs or > MaxTtlMs } => $"policy.ttl must be between {MinTtlMs} ms and {MaxTtlMs} ms (a week).",
        _ => null,
    };

    /// <summary>
    /// The A1111 body in <c>input</c>: the body itself (img2img when it has <c>init_images</c>), or the
    /// <c>{"api": {"method": "POST", "endpoint": "/sdapi/v1/txt2img"}, "payload": {...}}</c> wrapper.
    /// </summary>
    private static (Automatic1111Request? Request, bool Img2Img, string? Problem) ReadInput(JsonElement? input, JsonSerializerOptions json)
    {
        if (input is not { ValueKind: JsonValueKind.Object } body)
        {
            return (null, false, "input: an AUTOMATIC1111 txt2img or img2img body (a JSON object) is required.");
        }

        bool? img2img = null;
        if (body.TryGetProperty("api", out var api))
        {
            var endpoint = api.ValueKind == JsonValueKind.Object && api.TryGetProperty("endpoint", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            img2img = endpoint?.TrimEnd('/') switch
            {
                "/sdapi/v1/txt2img" => false,
                "/sdapi/v1/img2img" => true,
                _ => null,
            };
            if (img2img is null)
            {
                return (null, false, "input.api.endpoint: only /sdapi/v1/txt2img and /sdapi/v1/img2img are served.");
            }

            if (!body.TryGetProperty("payload", out body) || body.ValueKind != JsonValueKind.Object)
            {
                return (null, false, "input.payload: the AUTOMATIC1111 body (a JSON object) is required.");
            }
        }

        try
        {
            var request = body.Deserialize<Automatic1111Request>(json)!;
            return (request, img2img ?? request.InitImages is not null, null);
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            return (null, false, field is null ? "input is not valid JSON." : $"input.{field} has the wrong type.");
        }
    }

    /// <summary>The job in RunPod's shape, or the error when its images are no longer stored.</summary>
    private static async Task<Results<Ok<RunPodJob>, JsonHttpResult<RunPodError>>> JobAsync(
        JobSnapshot snapshot, GenerationService generations, IGrainFactory grains, JsonSerializerOptions json, CancellationToken cancellationToken) =>
        await ToRunPodAsync(snapshot, generations, grains, json, cancellationToken) is { } job ? TypedResults.Ok(job) : ImagesGone(snapshot.Id);

    /// <summary>The job in RunPod's shape; a finished one with its A1111 output, read from storage (null when it is gone).</summary>
    private static async Task<RunPodJob?> ToRunPodAsync(
        JobSnapshot snapshot, GenerationService generations, IGrainFactory grains, JsonSerializerOptions json, CancellationToken cancellationToken)
    {
        var id = snapshot.Id.ToString();
        var status = await StatusOfAsync(snapshot, grains);
        // The time in the queue, while the job runs: a finished job's start is not kept, so it reports no times.
        var delay = snapshot.StartedAt is { } started ? Milliseconds(started - snapshot.CreatedAt) : (long?)null;
        if (snapshot.Status != JobStatus.Succeeded)
        {
            return new RunPodJob(id, status, delay, Error: snapshot.Error);
        }

        var (parameters, names) = Automatic1111Mapping.FromJob(snapshot.Spec!, await Automatic1111Mapping.ModelsAsync(grains));
        var output = await Automatic1111Mapping.ResponseAsync(snapshot, parameters, names, snapshot.CreatedAt, sendImages: true, generations, json, cancellationToken);
        return output is null ? null : new RunPodJob(id, status, delay, output);
    }

    /// <summary>
    /// RunPod's status for a job. A job that is not finished, or was cancelled, may have had a policy: its limits are
    /// checked (and enforced) on the way, and a job cancelled for one of them is <c>TIMED_OUT</c>.
    /// </summary>
    private static async Task<string> StatusOfAsync(JobSnapshot snapshot, IGrainFactory grains) =>
        StatusOf(snapshot, snapshot.Status is not (JobStatus.Succeeded or JobStatus.Failed) && await grains.GetGrain<IJobDeadlineGrain>(snapshot.Id).Check());

    private static string StatusOf(JobSnapshot snapshot, bool timedOut) => timedOut ? "TIMED_OUT" : snapshot.Status switch
    {
        JobStatus.Queued => "IN_QUEUE",
        JobStatus.Running => "IN_PROGRESS",
        JobStatus.Succeeded => "COMPLETED",
        JobStatus.Failed => "FAILED",
        _ => "CANCELLED",
    };

    /// <summary>A step of the job as A1111's <c>/sdapi/v1/progress</c> shows it.</summary>
    private static Automatic1111Progress Progress(InferenceEvent step, JobSnapshot job)
    {
        var fraction = step.TotalSteps > 0 ? Math.Clamp((double)step.Step / step.TotalSteps, 0, 1) : 0;
        var kind = job.Spec?.InitImageKey is null ? "txt2img" : "img2img";
        return new Automatic1111Progress(
            fraction,
            step.EtaSeconds ?? 0,
            new(false, false, kind, 1, Automatic1111Mapping.Timestamp(job.CreatedAt), 0, step.Step, step.TotalSteps),
            step.Preview is { } preview ? Convert.ToBase64String(preview) : null,
            null);
    }

    /// <summary>The job once finished, or as it is after <paramref name="wait"/>.</summary>
    private static async Task<JobSnapshot> WaitUpToAsync(GenerationService generations, Guid id, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        window.CancelAfter(wait);
        try
        {
            return await generations.WaitAsync(id, window.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return await generations.Job(id).GetSnapshot();
        }
    }

    /// <summary>The caller's job with that id; null for an id this cluster did not make, an unknown job or another key's.</summary>
    private static async Task<JobSnapshot?> VisibleAsync(string id, GenerationService generations, ClaimsPrincipal user)
    {
        if (!Guid.TryParse(id, out var guid) || !await generations.IsGenuineAsync(guid))
        {
            return null;
        }

        var snapshot = await generations.Job(guid).GetSnapshot();
        return GenerationEndpoints.IsVisibleTo(snapshot, user) ? snapshot : null;
    }

    /// <summary>RunPod's <c>?wait=</c> in milliseconds, held to its range; null when it is not a number.</summary>
    private static TimeSpan? WaitOf(string? wait) =>
        string.IsNullOrEmpty(wait) ? TimeSpan.FromMilliseconds(DefaultWaitMs)
        : long.TryParse(wait, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? TimeSpan.FromMilliseconds(Math.Clamp(ms, MinWaitMs, MaxWaitMs))
        : null;

    private static JsonHttpResult<RunPodError> BadWait() =>
        RunPodErrorShape.Result(StatusCodes.Status400BadRequest, $"wait must be a whole number of milliseconds ({MinWaitMs} to {MaxWaitMs}).");

    private static JsonHttpResult<RunPodError> ImagesGone(Guid id) => RunPodErrorShape.Result(
        StatusCodes.Status404NotFound, $"The images of job {id} are no longer stored (see Diffusion:Retention:Results); submit the request again.");

    /// <summary>A RunPod operation this endpoint does not perform, answered in RunPod's shape rather than as an unknown path.</summary>
    private static JsonHttpResult<RunPodError> NotOffered(string message) => RunPodErrorShape.Result(StatusCodes.Status501NotImplemented, message);

    private static JsonHttpResult<RunPodError> NotFound() => RunPodErrorShape.Result(StatusCodes.Status404NotFound, "request does not exist");

    private static long Milliseconds(TimeSpan span) => Math.Max(0, (long)span.TotalMilliseconds);

    /// <summary>An accepted job, or the error that refused it.</summary>
    private sealed record Accepted(Guid Id, JobSnapshot? Snapshot, JsonHttpResult<RunPodError>? Error);
}
