using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// The owner of one inference, keyed by its request key (SHA-256 of the canonical request). It holds the spec, the
/// waiting jobs, the attempts, the live lease and the outcome, and numbers the inference's events. Identical requests
/// join the same inference; a finished result answers later identical requests from storage without inference. The
/// worker that runs the inference talks to this grain alone, and this grain completes its own queue entry.
/// </summary>
[Alias("od.IResultCacheGrain")]
public interface IResultCacheGrain : IGrainWithStringKey
{
    /// <summary>
    /// Attaches a job: a hit returns the stored images, otherwise the job waits for the (possibly new) inference. Only a
    /// new inference is charged to <paramref name="apiKey"/>'s quota of <paramref name="maxUnits"/> (see
    /// <see cref="IKeyQuotaGrain"/>); a hit or a join is free. Throws <see cref="QuotaExceededException"/>,
    /// <see cref="RequestOverQuotaException"/> and <see cref="QueueFullException"/>, none of which leaves anything queued.
    /// </summary>
    [Alias("Join")]
    Task<CacheJoinResult> Join(Guid jobId, GenerationSpec spec, string apiKey, int maxUnits);

    /// <summary>Detaches a cancelled job; the inference is cancelled when no job waits for it any more.</summary>
    [Alias("Leave")]
    Task Leave(Guid jobId);

    /// <summary>The inference now, as one event (its sequence number included), and whether <paramref name="jobId"/> waits for it.</summary>
    [Alias("GetStatus")]
    Task<InferenceStatus> GetStatus(Guid jobId);

    /// <summary>Subscribes a consumer of this inference's events and returns the current status, so it starts from there.</summary>
    [Alias("Watch")]
    Task<InferenceStatus> Watch(IInferenceObserver observer);

    [Alias("Unwatch")]
    Task Unwatch(IInferenceObserver observer);

    // The worker holding a lease of this inference.

    /// <summary>The spec to run under <paramref name="leaseId"/>, or null when nobody wants the result any more (the entry is completed).</summary>
    [Alias("Start")]
    Task<GenerationSpec?> Start(Guid leaseId, string silo);

    /// <summary>Returns false when the work is no longer wanted under this lease: the worker then stops.</summary>
    [Alias("Progress")]
    Task<bool> Progress(Guid leaseId, int step, int totalSteps, double elapsedSeconds, byte[]? preview);

    /// <summary>Keeps the lease alive in the queue partition; false when it was lost.</summary>
    [Alias("Renew")]
    Task<bool> Renew(Guid leaseId, string silo);

    [Alias("Complete")]
    Task Complete(Guid leaseId, IReadOnlyList<ImageRef> images, string silo);

    /// <summary>A permanent failure (bad model, bad input): the waiting jobs fail; not cached.</summary>
    [Alias("Fail")]
    Task Fail(Guid leaseId, string error);

    /// <summary>
    /// Work lost by a transient fault (<paramref name="countAttempt"/>) or handed back by a stopping silo: it goes back to
    /// the queue, or fails its jobs once it was lost <c>MaxAttempts</c> times.
    /// </summary>
    [Alias("Retry")]
    Task Retry(Guid leaseId, string reason, bool countAttempt);

    /// <summary>From the partition's watchdog: the lease's silo left or stopped renewing, and the entry is queued again.</summary>
    [OneWay, Alias("OnLeaseLost")]
    Task OnLeaseLost(Guid leaseId, string reason);

    /// <summary>The entry now. Interleaves: the key quota asks while this owner may be waiting on the quota.</summary>
    [AlwaysInterleave, Alias("GetEntry")]
    Task<CacheEntry> GetEntry();

    // The retention sweep.

    /// <summary>
    /// Ends a finished entry whose period started at or before <paramref name="cutoff"/>: it answers no request any more
    /// (an identical one computes again) and hands its images to the sweep, which deletes them and then calls
    /// <see cref="Forget"/>. Asked again before that, it hands the same images again. An entry that computes is kept.
    /// </summary>
    [Alias("Expire")]
    Task<ResultExpiry> Expire(DateTimeOffset cutoff);

    /// <summary>
    /// Removes an entry that <see cref="Expire"/> ended, unless a new inference began in it meanwhile; true when this
    /// call removed it.
    /// </summary>
    [Alias("Forget")]
    Task<bool> Forget();

    /// <summary>Whether an inference that reads the input <paramref name="inputKey"/> (init image or mask) is queued or running here.</summary>
    [Alias("UsesInput")]
    Task<bool> UsesInput(string inputKey);
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
    [property: Id(2)] int? QueuePosition,
    [property: Id(3)] DateTimeOffset? CompletedAt = null);

/// <summary>An inference at one moment, for a job or a new watcher.</summary>
[GenerateSerializer, Immutable, Alias("od.InferenceStatus")]
public sealed record InferenceStatus(
    [property: Id(0)] CacheEntryStatus Status,
    [property: Id(1)] InferenceEvent Current,
    [property: Id(2)] bool Waiting,
    [property: Id(3)] DateTimeOffset? LastFailedAt,
    [property: Id(4)] string? LastError);

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
    [property: Id(3)] int Inferences,
    [property: Id(4)] int Attempts);
