using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Cache;

/// <summary>
/// An inference's persisted state: the spec, who waits, the attempts and the outcome; image references only, never
/// image bytes. Written when an inference starts, when a job joins or leaves it, when it loses its work, and at its end.
/// </summary>
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

    /// <summary>When the inference in progress was queued.</summary>
    [Id(6)] public DateTimeOffset? QueuedAt { get; set; }

    /// <summary>How many times the work in progress was lost (its silo died, its lease expired, a transient fault).</summary>
    [Id(7)] public int Attempts { get; set; }

    [Id(8)] public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>The silo that computed the result.</summary>
    [Id(9)] public string? Silo { get; set; }

    /// <summary>The last failure (not cached: an identical request later tries again), so a job that missed the news can still tell.</summary>
    [Id(10)] public string? LastError { get; set; }

    [Id(11)] public DateTimeOffset? LastFailedAt { get; set; }

    /// <summary>When the entry last stopped computing, or a hit started its results period again: what the period counts from.</summary>
    [Id(12)] public DateTimeOffset? RetainFrom { get; set; }

    /// <summary>Set when the retention sweep ended the entry; its images are being deleted and it answers no request.</summary>
    [Id(13)] public DateTimeOffset? ExpiredAt { get; set; }
}
