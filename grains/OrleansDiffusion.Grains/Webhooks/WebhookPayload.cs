using System.Text.Json;
using System.Text.Json.Serialization;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// A delivery's body, in Standard Webhooks' recommended envelope: <c>{"type": "completed", "timestamp": ..., "data":
/// {the job as GET /v1/generations/{id} shows it}}</c>, snake_case as the native API writes it.
/// </summary>
public static class WebhookPayload
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The name of one event (<c>queued</c>, <c>started</c>, <c>progress</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>).</summary>
    public static string NameOf(WebhookEvents single) => single.ToString().ToLowerInvariant();

    public static string Write(WebhookEvents single, JobSnapshot job, string baseUrl, DateTimeOffset at) =>
        JsonSerializer.Serialize(new Envelope(NameOf(single), at, GenerationResponse.From(job, baseUrl)), Json);

    private sealed record Envelope(string Type, DateTimeOffset Timestamp, GenerationResponse Data);
}
