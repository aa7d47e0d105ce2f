using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// The order in which waiting entries of a partition are served: round robin between API keys (each key's entries in arrival order),
/// starting with the key after the one served last; keys take turns in the order of their oldest waiting item.
/// </summary>
public static class FairOrder
{
    public static List<QueueEntry> Of(IReadOnlyList<QueueEntry> pending, string? lastServedKey)
    {
        var byKey = new Dictionary<string, Queue<QueueEntry>>(StringComparer.Ordinal);
        var keys = new List<string>();
        foreach (var item in pending)
        {
            if (!byKey.TryGetValue(item.ApiKey, out var queue))
            {
                byKey[item.ApiKey] = queue = new Queue<QueueEntry>();
                keys.Add(item.ApiKey);
            }

            queue.Enqueue(item);
        }

        // Resume after the key served last (when it still waits), so that one key cannot take two turns in a row.
        var start = lastServedKey is null ? 0 : keys.IndexOf(lastServedKey) + 1;
        var rotated = keys.Skip(start).Concat(keys.Take(start)).ToList();
        var order = new List<QueueEntry>(pending.Count);
        while (order.Count < pending.Count)
        {
            foreach (var key in rotated)
            {
                if (byKey[key].TryDequeue(out var item))
                {
                    order.Add(item);
                }
            }
        }

        return order;
    }
}
