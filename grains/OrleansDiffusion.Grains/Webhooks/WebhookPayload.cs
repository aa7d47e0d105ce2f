using System.Text.Json;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// A delivery's body, in Standard Webhooks' recommended envelope: <c>{"type": "completed", "timestamp": ..., "data":
/// {the job as GET /v1/generations/{id} shows it}}</c>, written as the native API writes JSON (<see cref="NativeJson"/>).
/// </summary>
public static class WebhookPayload
{
    /// <summary>The name of one event (<c>queued</c>, <c>started</c>, <c>progress</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>).</summary>
    public static string NameOf(WebhookEvents single) => single.ToString().ToLowerInvariant();

    public static string Write(WebhookEvents single, JobSnapshot job, string baseUrl, DateTimeOffset at) =>
        JsonSerializer.Serialize(new Envelope(NameOf(single), at, GenerationResponse.From(job, baseUrl)), NativeJson.Options);

    private sealed record Envelope(string Type, DateTimeOffset Timestamp, GenerationResponse Data);
}
