namespace OrleansDiffusion.Contracts;

/// <summary>
/// The cluster's persisted, bounded work queue (one activation, key <see cref="DefaultKey"/>). Silos with free
/// capacity lease work from it: fair round robin between API keys, items of a model the silo already holds first.
/// A lease of a silo that leaves the cluster or stops renewing goes back to the front of the queue.
/// </summary>
[Alias("od.IWorkQueueGrain")]
public interface IWorkQueueGrain : IGrainWithStringKey
{
    public const string DefaultKey = "default";

    /// <summary>Adds an item (idempotent by id) and returns its 0-based position; <see cref="QueueFullException"/> at the bound.</summary>
    [Alias("Enqueue")]
    Task<int> Enqueue(WorkItem item);

    /// <summary>Leases the next item for <paramref name="silo"/>, with up to <paramref name="maxBatch"/> - 1 compatible followers; null when nothing waits.</summary>
    [Alias("Lease")]
    Task<WorkLease?> Lease(string silo, IReadOnlyList<string> loadedModels, int maxBatch);

    /// <summary>Leases more items compatible with an existing lease (the batching window); the lease grows.</summary>
    [Alias("LeaseMore")]
    Task<IReadOnlyList<WorkItem>> LeaseMore(Guid leaseId, int max);

    /// <summary>Extends a lease; false when the lease was lost (the silo must stop the work).</summary>
    [Alias("Renew")]
    Task<bool> Renew(Guid leaseId);

    /// <summary>Marks one item of a lease done.</summary>
    [Alias("Complete")]
    Task Complete(Guid leaseId, string itemId);

    /// <summary>Hands a lease's unfinished items back to the front of the queue (a stopping silo); not counted as an attempt.</summary>
    [Alias("Abandon")]
    Task Abandon(Guid leaseId);

    /// <summary>
    /// Hands a lease back after a transient fault: each item counts one attempt, and an item out of attempts fails
    /// (its result cache entry is told) instead of going back to the queue.
    /// </summary>
    [Alias("Retry")]
    Task Retry(Guid leaseId, string reason);

    /// <summary>Drops an item, queued or leased (its result is no longer wanted).</summary>
    [Alias("Cancel")]
    Task Cancel(string itemId);

    /// <summary>
    /// Asks to be woken when work arrives (soft state: a subscription lapses after <see cref="SubscriptionLifetime"/>
    /// unless renewed, and a reactivated queue has none; pumps also poll).
    /// </summary>
    [Alias("Subscribe")]
    Task Subscribe(IWorkAvailableObserver observer);

    [Alias("Unsubscribe")]
    Task Unsubscribe(IWorkAvailableObserver observer);

    public static readonly TimeSpan SubscriptionLifetime = TimeSpan.FromSeconds(90);

    [Alias("GetPosition")]
    Task<int?> GetPosition(string itemId);

    [Alias("GetStats")]
    Task<QueueStats> GetStats();

    /// <summary>The number of inference silos the cluster wants now (the autoscaling signal).</summary>
    [Alias("GetScaleSignal")]
    Task<ScaleSignal> GetScaleSignal();
}
