using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// How the native API writes JSON (snake_case names and enum values, nulls left out), in one place: the API's
/// endpoints and the cluster's webhook payloads write a job alike.
/// </summary>
public static class NativeJson
{
    /// <summary>Options configured as <see cref="Configure"/> does, for writers outside ASP.NET.</summary>
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return options;
    }
}
