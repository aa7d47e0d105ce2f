using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// One partition of the work queue (key: <c>{model}~{index}</c>, see <see cref="QueuePartitions"/>). It keeps one
/// storage row per entry, so an operation writes a constant number of bytes whatever the backlog, and holds leases in
/// memory: its watchdog puts back the work of a silo that left or stopped renewing. Fair round robin between API keys,
/// exact within the partition.
/// </summary>
[Alias("od.IQueuePartitionGrain")]
public interface IQueuePartitionGrain : IGrainWithStringKey
{
    /// <summary>Adds an entry once it is stored (idempotent by key) and returns its 0-based position in this partition; <see cref="QueueFullException"/> at the bound.</summary>
    [Alias("Enqueue")]
    Task<int> Enqueue(QueueEntry entry);

    /// <summary>Leases the next entry for <paramref name="silo"/>, with up to <paramref name="maxBatch"/> - 1 compatible followers; null when nothing waits.</summary>
    [Alias("Lease")]
    Task<WorkLease?> Lease(string silo, int maxBatch);

    /// <summary>Leases more entries compatible with an existing lease (the batching window).</summary>
    [Alias("LeaseMore")]
    Task<IReadOnlyList<QueueEntry>> LeaseMore(Guid leaseId, int max);

    /// <summary>
    /// Extends the lease of one entry; false when the lease was lost (the silo must stop that work). An entry a
    /// restarted partition knows only as pending is given back to the lease that still runs it.
    /// </summary>
    [Alias("Renew")]
    Task<bool> Renew(string key, Guid leaseId, string silo);

    /// <summary>Removes an entry, pending or leased, and its row (called by its owner once the work is decided).</summary>
    [Alias("Complete")]
    Task Complete(string key, bool failed);

    /// <summary>Puts a leased entry back at the front: a transient fault (<paramref name="lost"/>) or a stopping silo.</summary>
    [Alias("Release")]
    Task Release(string key, Guid leaseId, bool lost);

    [Alias("GetPosition")]
    Task<int?> GetPosition(string key);

    [Alias("GetCounts")]
    Task<PartitionCounts> GetCounts();

    /// <summary>
    /// Asks to be woken when work arrives (soft state: lapses after <see cref="SubscriptionLifetime"/> unless renewed).
    /// <paramref name="silo"/> is the subscriber's silo (parsable address): the subscription ends when that silo is
    /// declared dead, or when a wake-up cannot reach it.
    /// </summary>
    [Alias("SubscribeFromSilo")]
    Task Subscribe(IWorkAvailableObserver observer, string silo);

    [Alias("Unsubscribe")]
    Task Unsubscribe(IWorkAvailableObserver observer);

    public static readonly TimeSpan SubscriptionLifetime = TimeSpan.FromSeconds(90);
}

/// <summary>Partition keys: requests are spread over <c>partitions</c> per model by a hash of their request key.</summary>
public static class QueuePartitions
{
    public static string Of(string model, string requestKey, int partitions) =>
        KeyOf(model, (int)(StableHash(requestKey) % (uint)Math.Max(1, partitions)));

    public static string KeyOf(string model, int index) => $"{model}~{index}";

    public static IEnumerable<string> All(IEnumerable<string> models, int partitions) =>
        models.SelectMany(m => Enumerable.Range(0, Math.Max(1, partitions)).Select(i => KeyOf(m, i)));

    /// <summary>FNV-1a: the same on every silo and every run (string.GetHashCode is randomised per process).</summary>
    private static uint StableHash(string value)
    {
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
