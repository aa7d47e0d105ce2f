namespace OrleansDiffusion.Contracts;

/// <summary>
/// One result, keyed by the request key (SHA-256 of the canonical request). Identical requests join the same
/// inference; a finished result answers later identical requests from storage without inference.
/// </summary>
[Alias("od.IResultCacheGrain")]
public interface IResultCacheGrain : IGrainWithStringKey
{
    /// <summary>Attaches a job: a hit returns the stored images, otherwise the job waits for the (possibly new) inference.</summary>
    [Alias("Join")]
    Task<CacheJoinResult> Join(Guid jobId, GenerationSpec spec, string apiKey);

    /// <summary>Detaches a cancelled job; the inference is cancelled when no job waits for it any more.</summary>
    [Alias("Leave")]
    Task Leave(Guid jobId);

    // Reported by the inference worker that holds the lease.
    [Alias("ReportStarted")]
    Task<bool> ReportStarted(string silo);

    /// <summary>Returns false when nobody waits any more: the worker then stops.</summary>
    [Alias("ReportProgress")]
    Task<bool> ReportProgress(int step, int totalSteps, double elapsedSeconds, byte[]? preview);

    [Alias("ReportCompleted")]
    Task ReportCompleted(IReadOnlyList<ImageRef> images, string silo);

    [Alias("ReportFailed")]
    Task ReportFailed(string error);

    [Alias("GetEntry")]
    Task<CacheEntry> GetEntry();
}

[GenerateSerializer, Alias("od.CacheOutcome")]
public enum CacheOutcome
{
    /// <summary>Stored images answered the request: no inference.</summary>
    Hit,

    /// <summary>An identical request is already being computed; this job waits for it.</summary>
    Joined,

    /// <summary>This job started a new inference.</summary>
    Started,
}

[GenerateSerializer, Immutable, Alias("od.CacheJoinResult")]
public sealed record CacheJoinResult(
    [property: Id(0)] CacheOutcome Outcome,
    [property: Id(1)] IReadOnlyList<ImageRef> Images,
    [property: Id(2)] int? QueuePosition);

[GenerateSerializer, Alias("od.CacheEntryStatus")]
public enum CacheEntryStatus
{
    Empty,
    Computing,
    Done,
}

[GenerateSerializer, Immutable, Alias("od.CacheEntry")]
public sealed record CacheEntry(
    [property: Id(0)] CacheEntryStatus Status,
    [property: Id(1)] IReadOnlyList<ImageRef> Images,
    [property: Id(2)] int Waiting,
    [property: Id(3)] int Inferences);
