namespace OrleansDiffusion.Contracts;

/// <summary>
/// One inference waiting in (or leased from) the work queue. Its id is the request key, so the queue holds at most
/// one item per distinct request.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.WorkItem")]
public sealed record WorkItem(
    [property: Id(0)] string Id,
    [property: Id(1)] GenerationSpec Spec,
    [property: Id(2)] string ApiKey,
    [property: Id(3)] DateTimeOffset EnqueuedAt)
{
    /// <summary>How many times this work was lost (its silo died, its lease expired, a transient fault) and requeued.</summary>
    [Id(4)]
    public int Attempts { get; init; }

    /// <summary>Items with the same batch key can share one batched UNet call: same model, size, steps, scheduler, guidance mode; txt2img only.</summary>
    public string? BatchKey => Spec.InitImageKey is null
        ? $"{Spec.Model}|{Spec.Width}x{Spec.Height}|{Spec.Steps}|{Spec.Scheduler}|{(Spec.GuidanceScale > 1f ? "cfg" : "nocfg")}"
        : null;
}

/// <summary>Work handed to one silo: one item, or several compatible items to run as one batch.</summary>
[GenerateSerializer, Immutable, Alias("od.WorkLease")]
public sealed record WorkLease(
    [property: Id(0)] Guid LeaseId,
    [property: Id(1)] string Silo,
    [property: Id(2)] IReadOnlyList<WorkItem> Items,
    [property: Id(3)] DateTimeOffset ExpiresAt);

[GenerateSerializer, Immutable, Alias("od.QueueStats")]
public sealed record QueueStats(
    [property: Id(0)] int Pending,
    [property: Id(1)] int Running,
    [property: Id(2)] IReadOnlyDictionary<string, int> RunningBySilo,
    [property: Id(3)] double OldestPendingSeconds,
    [property: Id(4)] long Completed,
    [property: Id(5)] long Requeued,
    [property: Id(6)] long GaveUp);
