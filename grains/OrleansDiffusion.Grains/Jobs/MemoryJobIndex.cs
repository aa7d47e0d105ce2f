using System.Collections.Concurrent;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// The index in this silo's memory (the zero-config default, like memory grain storage and the memory queue store): a
/// sorted set per key, so adding, removing and reading a page cost a logarithm, not the key's history. Multi-silo
/// deployments keep their state in Azure storage and use <see cref="AzureTableJobIndex"/>.
/// </summary>
public sealed class MemoryJobIndex : IJobIndex
{
    // Above every position (they are digits, '-' and hex digits).
    private const string End = "~";

    private readonly ConcurrentDictionary<string, SortedSet<string>> _keys = new(StringComparer.Ordinal);

    public Task AddAsync(string apiKey, Guid job, DateTimeOffset createdAt)
    {
        var set = SetOf(apiKey);
        lock (set)
        {
            set.Add(IJobIndex.PositionOf(job, createdAt));
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(string apiKey, Guid job, DateTimeOffset createdAt)
    {
        var set = SetOf(apiKey);
        lock (set)
        {
            set.Remove(IJobIndex.PositionOf(job, createdAt));
        }

        return Task.CompletedTask;
    }

    public Task<JobIndexPage> ListAsync(string apiKey, string? after, int max, CancellationToken cancellationToken)
    {
        var set = SetOf(apiKey);
        lock (set)
        {
            if (set.Count == 0 || (after is not null && string.CompareOrdinal(after, set.Max) >= 0))
            {
                return Task.FromResult(new JobIndexPage([], More: false));
            }

            var view = set.GetViewBetween(after ?? string.Empty, End);
            var page = view.Where(p => after is null || string.CompareOrdinal(p, after) > 0).Take(max + 1).ToList();
            return Task.FromResult(new JobIndexPage(
                [.. page.Take(max).Select(p => new JobIndexEntry(IJobIndex.JobOf(p), p))],
                More: page.Count > max));
        }
    }

    private SortedSet<string> SetOf(string apiKey) => _keys.GetOrAdd(apiKey, _ => new SortedSet<string>(StringComparer.Ordinal));
}
