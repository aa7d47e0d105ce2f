using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// The retention sweep's one home in the cluster (key <see cref="DefaultKey"/>): a timer sweeps every
/// <c>Diffusion:Retention:SweepInterval</c>. Every silo touches it now and then, so that it is active again soon after
/// its silo left; one activation means one sweep at a time.
/// </summary>
[Alias("od.IRetentionReaperGrain")]
public interface IRetentionReaperGrain : IGrainWithStringKey
{
    public const string DefaultKey = "default";

    /// <summary>Activates the reaper wherever it lives (called by every silo now and then).</summary>
    [OneWay, Alias("Touch")]
    Task Touch();

    /// <summary>What the last sweep of this activation did, or null before its first.</summary>
    [Alias("GetLastSweep")]
    Task<RetentionSweepReport?> GetLastSweep();
}

/// <summary>What one retention sweep did.</summary>
[GenerateSerializer, Immutable, Alias("od.RetentionSweepReport")]
public sealed record RetentionSweepReport
{
    /// <summary>The time the sweep counted the periods back from.</summary>
    [Id(0)] public DateTimeOffset At { get; init; }

    [Id(1)] public int JobsDeleted { get; init; }

    /// <summary>Result-cache entries removed (an identical request computes again).</summary>
    [Id(2)] public int ResultsExpired { get; init; }

    [Id(3)] public int ImagesDeleted { get; init; }

    [Id(4)] public int InputsDeleted { get; init; }

    /// <summary>Due items found still in use (an unfinished job, a result used again, an input of a queued inference): looked at again later.</summary>
    [Id(5)] public int Kept { get; init; }

    /// <summary>Marks whose handling failed (storage fault): left for the next sweep.</summary>
    [Id(6)] public int Failed { get; init; }
}

/// <summary>What a job grain did when the sweep found its record due.</summary>
[GenerateSerializer, Immutable, Alias("od.JobExpiry")]
public sealed record JobExpiry(
    [property: Id(0)] ExpiryOutcome Outcome,
    [property: Id(1)] DateTimeOffset? RetainFrom = null);

/// <summary>What a result-cache grain did when the sweep found its entry due.</summary>
[GenerateSerializer, Immutable, Alias("od.ResultExpiry")]
public sealed record ResultExpiry(
    [property: Id(0)] ExpiryOutcome Outcome,
    [property: Id(1)] IReadOnlyList<ImageRef> Images,
    [property: Id(2)] DateTimeOffset? RetainFrom = null);

[GenerateSerializer, Alias("od.ExpiryOutcome")]
public enum ExpiryOutcome
{
    /// <summary>Removed (a result's images are the sweep's to delete next).</summary>
    Expired,

    /// <summary>Still in use: look again once the period from <c>RetainFrom</c> has passed.</summary>
    Kept,

    /// <summary>Nothing stored under this id (removed before, or never written).</summary>
    Missing,
}
