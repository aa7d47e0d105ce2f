using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// Writes the marks of the job path (a job's creation, an inference's end, an input's use) behind the caller's back,
/// grouped: a mark waits while the previous write of its kind is in flight, and until <see cref="MinInterval"/> has
/// passed since that write began, then goes out with every mark that arrived meanwhile as one stored group
/// (<see cref="RetentionMarkSet"/>). An idle silo writes each mark at once, alone; a busy one writes at most one object
/// per kind per interval however many jobs it accepts (at 130 jobs/s, a thirtieth of a request per job and kind).
/// Nobody waits for a mark: accepting a job or ending an inference costs no mark's round trip. A failed write is
/// retried with back-off, and the silo writes what is pending before it stops. What a crashed silo had not written
/// yet (at most an interval's marks, or a storage outage's) is lost: those records and results are then kept until
/// deleted by hand or, for a result, replaced by an identical request.
/// </summary>
public sealed partial class RetentionMarker(IRetentionStore store, TimeProvider time, ILogger<RetentionMarker> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>The most marks in one group (about 80 bytes each).</summary>
    public const int MaxGroup = 500;

    /// <summary>The least time between the starts of two writes of one kind.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Waits before the retries of a failed write: about half a minute in all, then the group is given up.</summary>
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(16)];

    /// <summary>The longest a stopping silo waits for its pending marks (well inside the host's shutdown timeout).</summary>
    public static readonly TimeSpan StopFlushTimeout = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<RetentionKind, Queue<RetentionMark>> _waiting = [];
    private readonly Dictionary<RetentionKind, Task> _writers = [];
    private long _lost;

    /// <summary>Marks given up after every retry failed (logged as errors).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Writes what is pending when the silo stops, after its grains (which may still mark) were deactivated.</summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RetentionMarker), ServiceLifecycleStage.ApplicationServices, _ => Task.CompletedTask, StopAsync);

    /// <summary>
    /// The silo's last flush: a failed write is tried once more at once instead of after its back-off, and the flush
    /// waits at most <see cref="StopFlushTimeout"/>, so a store that cannot be reached never holds up the silo's stop
    /// (what could not be written is logged as given up).
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(StopFlushTimeout);
        try
        {
            await FlushAsync(bounded.Token);
        }
        catch (OperationCanceledException)
        {
            Log.StopFlushCutShort(logger, StopFlushTimeout);
        }
    }

    /// <summary>Queues <paramref name="mark"/> for the next write of its kind (starting one when none is in flight).</summary>
    public void Mark(RetentionMark mark)
    {
        ArgumentNullException.ThrowIfNull(mark);
        lock (_gate)
        {
            if (!_waiting.TryGetValue(mark.Kind, out var queue))
            {
                _waiting[mark.Kind] = queue = new Queue<RetentionMark>();
            }

            queue.Enqueue(mark);
            if (!_writers.ContainsKey(mark.Kind))
            {
                _writers[mark.Kind] = Task.Run(() => WriteAsync(mark.Kind));
            }
        }
    }

    /// <summary>Ends when every mark queued so far is written (or given up).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task[] writers;
            lock (_gate)
            {
                writers = [.. _writers.Values];
            }

            if (writers.Length == 0)
            {
                return;
            }

            await Task.WhenAll(writers).WaitAsync(cancellationToken);
        }
    }

    private async Task WriteAsync(RetentionKind kind)
    {
        long? lastStart = null;
        while (true)
        {
            List<RetentionMark> group;
            lock (_gate)
            {
                var queue = _waiting[kind];
                if (queue.Count == 0)
                {
                    _writers.Remove(kind);
                    return;
                }
            }

            if (lastStart is { } started && time.GetElapsedTime(started) is var elapsed && elapsed < MinInterval)
            {
                await Task.Delay(MinInterval - elapsed, time);
            }

            lock (_gate)
            {
                var queue = _waiting[kind];
                group = new List<RetentionMark>(Math.Min(queue.Count, MaxGroup));
                while (group.Count < MaxGroup && queue.TryDequeue(out var mark))
                {
                    group.Add(mark);
                }
            }

            lastStart = time.GetTimestamp();
            await WriteGroupAsync(RetentionMarkSet.Of(group));
        }
    }

    private async Task WriteGroupAsync(RetentionMarkSet marks)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await store.MarkAsync(marks, CancellationToken.None);
                return;
            }
            catch (Exception e) when (attempt < RetryDelays.Length && !(_stopping.IsCancellationRequested && attempt > 0))
            {
                Log.WriteFailed(logger, e, marks.Marks.Count, marks.Kind, RetryDelays[attempt]);
                try
                {
                    await Task.Delay(RetryDelays[attempt], time, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    // The silo is stopping: one more try at once, then the group is given up.
                }
            }
            catch (Exception e)
            {
                Interlocked.Add(ref _lost, marks.Marks.Count);
                Log.GivenUp(logger, e, marks.Marks.Count, marks.Kind);
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Writing {Count} retention marks of {Kind} failed; retrying in {Delay}")]
        public static partial void WriteFailed(ILogger logger, Exception exception, int count, RetentionKind kind, TimeSpan delay);

        [LoggerMessage(2, LogLevel.Error, "Writing {Count} retention marks of {Kind} failed after every retry: those items are kept until deleted by hand")]
        public static partial void GivenUp(ILogger logger, Exception exception, int count, RetentionKind kind);

        [LoggerMessage(3, LogLevel.Error, "Writing the pending retention marks at stop took longer than {Timeout}: those not written are kept until deleted by hand")]
        public static partial void StopFlushCutShort(ILogger logger, TimeSpan timeout);
    }
}
