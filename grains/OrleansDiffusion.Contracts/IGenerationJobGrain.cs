using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// One generation job, keyed by its id. Its lifecycle (queued, running, succeeded | failed | cancelled) is persisted;
/// every call returns quickly: the generation itself runs on an inference worker and reports back.
/// </summary>
[Alias("od.IGenerationJobGrain")]
public interface IGenerationJobGrain : IGrainWithGuidKey
{
    /// <summary>
    /// Accepts the job (idempotent for the same spec). Throws <see cref="ArgumentException"/> for a spec the cluster
    /// cannot serve and <see cref="QueueFullException"/> when the queue is full; neither changes any state.
    /// </summary>
    [Alias("Submit")]
    Task<JobSnapshot> Submit(GenerationSpec spec, string apiKey);

    [Alias("GetSnapshot")]
    Task<JobSnapshot> GetSnapshot();

    /// <summary>Cancels a queued or running job; a finished job is returned unchanged.</summary>
    [Alias("Cancel")]
    Task<JobSnapshot> Cancel();

    /// <summary>Subscribes an observer and returns the current state, so a late subscriber starts from it.</summary>
    [Alias("Subscribe")]
    Task<JobSnapshot> Subscribe(IJobObserver observer);

    [Alias("Unsubscribe")]
    Task Unsubscribe(IJobObserver observer);

    // Called by the result cache for the inference this job waits on. The start is one-way (a lost one only
    // costs a live update); progress and the outcome are awaited by the cache and interleave, so that a cache grain
    // never deadlocks on a job grain that is itself waiting on the cache (Submit, or the watchdog's re-join).
    [OneWay, Alias("OnStarted")]
    Task OnStarted(string silo, DateTimeOffset startedAt);

    [AlwaysInterleave, Alias("OnProgress")]
    Task OnProgress(int step, int totalSteps, double elapsedSeconds, byte[]? preview);

    [AlwaysInterleave, Alias("OnCompleted")]
    Task OnCompleted(IReadOnlyList<ImageRef> images, bool cached, string? silo);

    [AlwaysInterleave, Alias("OnFailed")]
    Task OnFailed(string error);
}
