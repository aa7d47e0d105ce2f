using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Cache;

/// <summary>A result's persisted state: metadata and image references only, never image bytes.</summary>
[GenerateSerializer, Alias("od.CacheState")]
public sealed class CacheState
{
    [Id(0)] public CacheEntryStatus Status { get; set; }

    [Id(1)] public List<ImageRef> Images { get; set; } = [];

    /// <summary>The jobs waiting for the inference in progress.</summary>
    [Id(2)] public List<Guid> Waiters { get; set; } = [];

    [Id(3)] public GenerationSpec? Spec { get; set; }

    [Id(4)] public string ApiKey { get; set; } = string.Empty;

    /// <summary>Inferences completed for this key (1 in a healthy cluster).</summary>
    [Id(5)] public int Inferences { get; set; }

    [Id(6)] public DateTimeOffset? ComputingSince { get; set; }
}
