using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// One generation job, keyed by its id. It records what a client needs: the accepted request (saved before it joins the
/// inference, so no outcome can overtake it) and a final outcome that the inference's owner cannot tell later (failed,
/// cancelled); success is read from the owner, which keeps the result. Every call returns quickly.
/// </summary>
[Alias("od.IGenerationJobGrain")]
public interface IGenerationJobGrain : IGrainWithGuidKey
{
    /// <summary>
    /// Accepts the job (idempotent for the same spec and key; <see cref="JobIdTakenException"/> for another). Throws <see cref="ArgumentException"/> for a spec the cluster
    /// cannot serve, <see cref="QueueFullException"/> when the queue is full, and <see cref="QuotaExceededException"/> or
    /// <see cref="RequestOverQuotaException"/> when the job would start an inference that <paramref name="apiKey"/>'s
    /// concurrency quota of <paramref name="maxUnits"/> units (<see cref="QueueEntry.CostOf"/>) cannot take; none of
    /// them leaves a job behind. Joining an identical inference or a cached result costs no units.
    /// </summary>
    [Alias("Submit")]
    Task<JobSnapshot> Submit(GenerationSpec spec, string apiKey, int maxUnits);

    /// <summary>The job now; while it runs, its step is read from the inference.</summary>
    [Alias("GetSnapshot")]
    Task<JobSnapshot> GetSnapshot();

    /// <summary>Cancels a queued or running job; a finished job is returned unchanged.</summary>
    [Alias("Cancel")]
    Task<JobSnapshot> Cancel();

    /// <summary>
    /// From the retention sweep: deletes the record when it was created at or before <paramref name="cutoff"/> and the
    /// job is finished; an unfinished job is kept (and looked at again a period after <paramref name="now"/>).
    /// </summary>
    [Alias("Expire")]
    Task<JobExpiry> Expire(DateTimeOffset cutoff, DateTimeOffset now);

    /// <summary>The inference's outcome, from its owner (retried by it; applied once, in sequence order).</summary>
    [AlwaysInterleave, Alias("OnOutcome")]
    Task OnOutcome(InferenceEvent outcome);
}
