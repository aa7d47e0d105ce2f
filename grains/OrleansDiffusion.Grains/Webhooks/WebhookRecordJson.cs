using System.Text.Json;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>How a <see cref="WebhookRecord"/> is written in a store: JSON, so that a store keeps a copy, never the live object.</summary>
internal static class WebhookRecordJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General);

    public static string Write(WebhookRecord record) => JsonSerializer.Serialize(record, Options);

    public static WebhookRecord Read(string json) =>
        JsonSerializer.Deserialize<WebhookRecord>(json, Options) ?? throw new JsonException("An empty webhook record.");
}
