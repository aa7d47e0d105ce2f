using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// Where queue partitions keep their entries: one record per entry, so that adding or removing one writes a constant
/// number of bytes whatever the backlog. Leases are not stored (a restarted partition sees its entries as pending, and
/// a worker still running one gets it back when it renews).
/// </summary>
public interface IQueueStore
{
    Task<IReadOnlyList<QueueEntry>> LoadAsync(string partition, CancellationToken cancellationToken);

    Task AddAsync(string partition, QueueEntry entry);

    Task RemoveAsync(string partition, string key);
}
