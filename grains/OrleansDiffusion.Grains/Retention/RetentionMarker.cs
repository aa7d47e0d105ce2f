namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// Group commit for the marks written on every job's path (a job's creation, an inference's end, an input's use): a
/// mark waits while the previous write of its kind is in flight, and until <see cref="MinInterval"/> has passed since
/// that write began, then goes out with every mark that arrived meanwhile as one stored group
/// (<see cref="RetentionMarkSet"/>). An idle silo writes each mark at once, alone; a busy one writes at most one object
/// per kind per interval however many jobs it accepts (at 130 jobs/s, a fifteenth of a request per job and kind), at
/// the price of at most an interval's wait under load. The caller's task ends when its mark is stored (or faults with
/// the write's error), as a direct write would.
/// </summary>
public sealed class RetentionMarker(IRetentionStore store, TimeProvider time)
{
    /// <summary>The most marks in one group (about 80 bytes each).</summary>
    public const int MaxGroup = 500;

    /// <summary>The least time between the starts of two writes of one kind.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly Dictionary<RetentionKind, Queue<(RetentionMark Mark, TaskCompletionSource Stored)>> _waiting = [];
    private readonly HashSet<RetentionKind> _writing = [];

    /// <summary>Stores <paramref name="mark"/>, with others of its kind when a write is already in flight.</summary>
    public Task MarkAsync(RetentionMark mark)
    {
        ArgumentNullException.ThrowIfNull(mark);
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_gate)
        {
            if (!_waiting.TryGetValue(mark.Kind, out var queue))
            {
                _waiting[mark.Kind] = queue = new Queue<(RetentionMark, TaskCompletionSource)>();
            }

            queue.Enqueue((mark, stored));
            start = _writing.Add(mark.Kind);
        }

        if (start)
        {
            _ = Task.Run(() => WriteAsync(mark.Kind));
        }

        return stored.Task;
    }

    private async Task WriteAsync(RetentionKind kind)
    {
        long? lastStart = null;
        while (true)
        {
            if (lastStart is { } started && time.GetElapsedTime(started) is var elapsed && elapsed < MinInterval)
            {
                await Task.Delay(MinInterval - elapsed, time);
            }

            List<(RetentionMark Mark, TaskCompletionSource Stored)> group;
            lock (_gate)
            {
                var queue = _waiting[kind];
                if (queue.Count == 0)
                {
                    _writing.Remove(kind);
                    return;
                }

                group = new List<(RetentionMark, TaskCompletionSource)>(Math.Min(queue.Count, MaxGroup));
                while (group.Count < MaxGroup && queue.TryDequeue(out var waiting))
                {
                    group.Add(waiting);
                }
            }

            lastStart = time.GetTimestamp();
            try
            {
                await store.MarkAsync(RetentionMarkSet.Of([.. group.Select(w => w.Mark)]), CancellationToken.None);
                foreach (var waiting in group)
                {
                    waiting.Stored.TrySetResult();
                }
            }
            catch (Exception e)
            {
                foreach (var waiting in group)
                {
                    waiting.Stored.TrySetException(e);
                }
            }
        }
    }
}
