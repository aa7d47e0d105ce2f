using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// One partition of the work queue. Entries are stored one row each (<see cref="IQueueStore"/>): an enqueue writes one
/// row and a completion deletes one, whatever the backlog, and concurrent writes are group-committed. Leases live in
/// memory only: the watchdog (a timer, no reminder) puts back the work of a silo that left the cluster or stopped
/// renewing and tells the work's owner, which counts the attempt. Reentrant: every change of the in-memory state happens
/// before the first await of a call, so calls interleave only while they wait for storage, which is what lets writes
/// gather into one transaction. Idle pumps subscribe to be woken when work arrives; a pump whose silo is declared dead,
/// or that a wake-up cannot reach, is dropped at once rather than woken until its subscription lapses.
/// </summary>
[Reentrant]
public sealed partial class QueuePartitionGrain(
    IQueueStore store,
    IOptions<DiffusionOptions> options,
    IClusterMembershipService membership,
    DiffusionMetrics metrics,
    TimeProvider time,
    ILogger<QueuePartitionGrain> logger) : Grain, IQueuePartitionGrain
{
    /// <summary>How long a silo's wake-up count is kept after its last wake-up (silos come and go: the counts must not pile up).</summary>
    private static readonly TimeSpan WakeUpMemory = TimeSpan.FromMinutes(10);

    private readonly DiffusionOptions _options = options.Value;
    private readonly List<QueueEntry> _pending = [];
    private readonly Dictionary<string, Leased> _leased = new(StringComparer.Ordinal);
    private readonly HashSet<string> _adding = new(StringComparer.Ordinal);
    private readonly Dictionary<IWorkAvailableObserver, Subscription> _idle = [];
    private readonly Dictionary<string, WakeUps> _wakeUps = new(StringComparer.Ordinal);
    private string? _lastServedKey;
    private long _completed;
    private long _requeued;
    private long _gaveUp;

    private string Partition => this.GetPrimaryKeyString();

    /// <summary>Each partition's share of <see cref="DiffusionOptions.MaxQueueLength"/>.</summary>
    private int Bound => (_options.MaxQueueLength + _options.QueuePartitions - 1) / _options.QueuePartitions;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _pending.AddRange(await store.LoadAsync(Partition, cancellationToken));
        this.RegisterGrainTimer(CheckLeases, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) { KeepAlive = true, Interleave = true });
    }

    public async Task<int> Enqueue(QueueEntry entry)
    {
        if (Position(entry.Key) is { } existing)
        {
            return existing;
        }

        if (_leased.ContainsKey(entry.Key) || _adding.Contains(entry.Key))
        {
            return 0;
        }

        if (_pending.Count + _adding.Count >= Bound)
        {
            throw new QueueFullException($"The queue holds {_pending.Count} requests for model '{entry.Model}' in this partition, its limit; retry later.");
        }

        // Visible to leases only once stored: a worker never starts work that a storage fault then un-queues.
        _adding.Add(entry.Key);
        try
        {
            await store.AddAsync(Partition, entry);
        }
        finally
        {
            _adding.Remove(entry.Key);
        }

        _pending.Add(entry);
        WakeIdleSilos();
        return Position(entry.Key) ?? 0;
    }

    public Task<WorkLease?> Lease(string silo, int maxBatch)
    {
        if (_pending.Count == 0)
        {
            return Task.FromResult<WorkLease?>(null);
        }

        var order = FairOrder.Of(_pending, _lastServedKey);
        var head = order[0];
        var items = new List<QueueEntry> { head };
        if (maxBatch > 1 && head.BatchKey is { } batchKey)
        {
            items.AddRange(order.Skip(1).Where(e => e.BatchKey == batchKey).Take(maxBatch - 1));
        }

        var leaseId = Guid.NewGuid();
        var expires = time.GetUtcNow() + _options.LeaseDuration;
        foreach (var item in items)
        {
            _pending.Remove(item);
            _leased[item.Key] = new Leased(item, leaseId, silo, expires);
        }

        _lastServedKey = head.ApiKey;
        return Task.FromResult<WorkLease?>(new WorkLease(leaseId, silo, Partition, items, expires));
    }

    public Task<IReadOnlyList<QueueEntry>> LeaseMore(Guid leaseId, int max)
    {
        var lease = _leased.Values.FirstOrDefault(l => l.LeaseId == leaseId);
        if (max <= 0 || lease?.Entry.BatchKey is not { } batchKey)
        {
            return Task.FromResult<IReadOnlyList<QueueEntry>>([]);
        }

        var more = FairOrder.Of(_pending, _lastServedKey).Where(e => e.BatchKey == batchKey).Take(max).ToList();
        foreach (var item in more)
        {
            _pending.Remove(item);
            _leased[item.Key] = lease with { Entry = item };
        }

        return Task.FromResult<IReadOnlyList<QueueEntry>>(more);
    }

    public Task<bool> Renew(string key, Guid leaseId, string silo)
    {
        var expires = time.GetUtcNow() + _options.LeaseDuration;
        if (_leased.TryGetValue(key, out var leased))
        {
            if (leased.LeaseId != leaseId)
            {
                return Task.FromResult(false);
            }

            _leased[key] = leased with { ExpiresAt = expires };
            return Task.FromResult(true);
        }

        // This partition restarted while the work ran: it loaded the entry as pending. The run keeps it.
        var index = _pending.FindIndex(e => e.Key == key);
        if (index < 0)
        {
            return Task.FromResult(false);
        }

        _leased[key] = new Leased(_pending[index], leaseId, silo, expires);
        _pending.RemoveAt(index);
        return Task.FromResult(true);
    }

    public async Task Complete(string key, bool failed)
    {
        var known = _leased.Remove(key) | _pending.RemoveAll(e => e.Key == key) > 0;
        if (!known)
        {
            return; // completed before (a repeated report): nothing stored any more
        }

        if (failed)
        {
            _gaveUp++;
        }
        else
        {
            _completed++;
        }

        await store.RemoveAsync(Partition, key);
    }

    public Task Release(string key, Guid leaseId, bool lost)
    {
        if (_leased.TryGetValue(key, out var leased) && leased.LeaseId == leaseId)
        {
            _leased.Remove(key);
            Requeue(leased, lost ? "a transient fault" : "its silo handed it back");
        }

        return Task.CompletedTask;
    }

    public Task<int?> GetPosition(string key) => Task.FromResult(Position(key));

    public Task<PartitionCounts> GetCounts()
    {
        var bySilo = _leased.Values.GroupBy(l => l.Silo).ToDictionary(g => g.Key, g => g.Count());
        DateTimeOffset? oldest = _pending.Count == 0 ? null : _pending.Min(e => e.EnqueuedAt);
        var pendingUnits = _pending.Sum(e => (long)e.Cost);
        var runningUnits = _leased.Values.Sum(l => (long)l.Entry.Cost);
        return Task.FromResult(new PartitionCounts(Partition, _pending.Count, bySilo, oldest, _completed, _requeued, _gaveUp, pendingUnits, runningUnits)
        {
            IdleBySilo = _idle.Values.GroupBy(s => s.Silo).ToDictionary(g => g.Key, g => g.Count()),
            WakeUpsBySilo = _wakeUps.ToDictionary(w => w.Key, w => w.Value.Count),
        });
    }

    public Task Subscribe(IWorkAvailableObserver observer, string silo)
    {
        _idle[observer] = new Subscription(silo, time.GetUtcNow() + IQueuePartitionGrain.SubscriptionLifetime);
        return Task.CompletedTask;
    }

    public Task Unsubscribe(IWorkAvailableObserver observer)
    {
        _idle.Remove(observer);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The watchdog: work whose silo left or whose lease was not renewed in time goes back to the front, and idle pumps of
    /// a silo that left are woken no more.
    /// </summary>
    private Task CheckLeases(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var snapshot = membership.CurrentSnapshot;
        DropGoneSubscribers(snapshot);
        foreach (var silo in _wakeUps.Where(w => now - w.Value.Last > WakeUpMemory).Select(w => w.Key).ToList())
        {
            _wakeUps.Remove(silo);
        }

        foreach (var leased in _leased.Values.Where(l => l.ExpiresAt <= now || SiloIsGone(snapshot, l.Silo)).ToList())
        {
            _leased.Remove(leased.Entry.Key);
            var why = leased.ExpiresAt <= now ? "its lease expired" : "its silo left the cluster";
            Requeue(leased, why);

            // The owner counts the attempt and, out of attempts, fails its jobs and completes the entry. One-way: a
            // partition never waits on an owner (owners wait on partitions).
            GrainFactory.GetGrain<IResultCacheGrain>(leased.Entry.Key).OnLeaseLost(leased.LeaseId, why).Ignore();
        }

        return Task.CompletedTask;
    }

    private void Requeue(Leased leased, string why)
    {
        // Back to the front: it was next before.
        _pending.Insert(0, leased.Entry);
        _requeued++;
        metrics.Requeued(1);

        Log.Requeued(logger, leased.Entry.Key, leased.Silo, why);
        WakeIdleSilos();
    }

    private static bool SiloIsGone(ClusterMembershipSnapshot snapshot, string silo)
    {
        try
        {
            return snapshot.GetSiloStatus(SiloAddress.FromParsableString(silo)) is SiloStatus.Dead or SiloStatus.None;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private void WakeIdleSilos()
    {
        var now = time.GetUtcNow();
        DropGoneSubscribers(membership.CurrentSnapshot);
        foreach (var (observer, subscription) in _idle.ToList())
        {
            if (subscription.Expires <= now)
            {
                _idle.Remove(observer);
                continue;
            }

            _wakeUps[subscription.Silo] = new WakeUps((_wakeUps.GetValueOrDefault(subscription.Silo)?.Count ?? 0) + 1, now);
            WakeAsync(observer, subscription).Ignore();
        }
    }

    /// <summary>Wakes one pump; one that cannot be reached (its silo died, not yet declared dead) is dropped.</summary>
    private async Task WakeAsync(IWorkAvailableObserver observer, Subscription subscription)
    {
        try
        {
            await observer.WorkAvailable(Partition);
        }
        catch (Exception e)
        {
            // Unless it subscribed again meanwhile: then it answered since.
            if (_idle.TryGetValue(observer, out var current) && current == subscription)
            {
                _idle.Remove(observer);
                Log.WakeFailed(logger, e, subscription.Silo);
            }
        }
    }

    /// <summary>Idle pumps of silos declared dead: their wake-ups could only fail, so they are dropped.</summary>
    private void DropGoneSubscribers(ClusterMembershipSnapshot snapshot)
    {
        foreach (var silo in _idle.Values.Select(s => s.Silo).Distinct(StringComparer.Ordinal).Where(s => SiloIsDead(snapshot, s)).ToList())
        {
            var dropped = 0;
            foreach (var (observer, _) in _idle.Where(i => i.Value.Silo == silo).ToList())
            {
                _idle.Remove(observer);
                dropped++;
            }

            Log.DroppedSubscribers(logger, dropped, silo);
        }
    }

    /// <summary>
    /// Declared dead. Unlike <see cref="SiloIsGone"/>, a silo this silo does not know yet (a new one, whose join has not
    /// reached it) keeps its subscription: it would only lapse, which costs nothing, while dropping it costs the new
    /// silo its wake-ups.
    /// </summary>
    private static bool SiloIsDead(ClusterMembershipSnapshot snapshot, string silo)
    {
        try
        {
            return snapshot.GetSiloStatus(SiloAddress.FromParsableString(silo)) == SiloStatus.Dead;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private int? Position(string key)
    {
        if (!_pending.Exists(e => e.Key == key))
        {
            return null;
        }

        var index = FairOrder.Of(_pending, _lastServedKey).FindIndex(e => e.Key == key);
        return index < 0 ? null : index;
    }

    private sealed record Leased(QueueEntry Entry, Guid LeaseId, string Silo, DateTimeOffset ExpiresAt);

    /// <summary>An idle pump's wish to be woken, from <paramref name="Silo"/>, until <paramref name="Expires"/>.</summary>
    private sealed record Subscription(string Silo, DateTimeOffset Expires);

    /// <summary>Wake-ups sent to one silo's pumps, and when the last was sent.</summary>
    private sealed record WakeUps(long Count, DateTimeOffset Last);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Requeued {Key} leased by {Silo}: {Reason}")]
        public static partial void Requeued(ILogger logger, string key, string silo, string reason);

        [LoggerMessage(2, LogLevel.Information, "Waking an idle pump of {Silo} failed; it is woken no more until it subscribes again (it polls meanwhile)")]
        public static partial void WakeFailed(ILogger logger, Exception exception, string silo);

        [LoggerMessage(3, LogLevel.Information, "Dropped {Count} wake-up subscriptions of {Silo}: the silo was declared dead")]
        public static partial void DroppedSubscribers(ILogger logger, int count, string silo);
    }
}
