using System.Collections.Concurrent;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// Entries in this silo's memory (the zero-config default, like memory grain storage): a partition that moves to another
/// silo starts empty there. Multi-silo deployments use <see cref="AzureTableQueueStore"/>.
/// </summary>
public sealed class MemoryQueueStore : IQueueStore
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, QueueEntry>> _partitions = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<QueueEntry>> LoadAsync(string partition, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<QueueEntry>>([.. Partition(partition).Values.OrderBy(e => e.EnqueuedAt)]);

    public Task AddAsync(string partition, QueueEntry entry)
    {
        Partition(partition)[entry.Key] = entry;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string partition, string key)
    {
        Partition(partition).TryRemove(key, out _);
        return Task.CompletedTask;
    }

    private ConcurrentDictionary<string, QueueEntry> Partition(string partition) =>
        _partitions.GetOrAdd(partition, _ => new ConcurrentDictionary<string, QueueEntry>(StringComparer.Ordinal));
}
