using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Scaling;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// The cluster's work queue: persisted before every answer, so that an accepted request survives any silo.
/// Leases held by a silo that leaves the cluster, or not renewed in time, go back to the front of the queue.
/// </summary>
public sealed partial class WorkQueueGrain(
    [PersistentState("queue", StorageNames.Cache)] IPersistentState<QueueState> state,
    IOptions<DiffusionOptions> options,
    IClusterMembershipService membership,
    DiffusionMetrics metrics,
    TimeProvider time,
    ILogger<WorkQueueGrain> logger) : Grain, IWorkQueueGrain
{
    // How far down the fair order a silo looks for work on a model it already holds.
    private const int AffinityLookahead = 16;

    private readonly DiffusionOptions _options = options.Value;
    private readonly Dictionary<IWorkAvailableObserver, DateTimeOffset> _idle = [];
    private readonly ScaleCalculator _scale = new(options.Value.Scaling, options.Value.Capacity, time.GetUtcNow());

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Leases loaded from storage get a fresh deadline: their silos may still be working on them.
        var deadline = time.GetUtcNow() + _options.LeaseDuration;
        foreach (var lease in state.State.Leases.Values)
        {
            lease.ExpiresAt = deadline;
        }

        this.RegisterGrainTimer(CheckLeasesAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) { KeepAlive = true });
        PublishMetrics();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.ClearQueue();
        return Task.CompletedTask;
    }

    public async Task<int> Enqueue(WorkItem item)
    {
        if (Position(item.Id) is { } existing)
        {
            return existing;
        }

        if (IsLeased(item.Id))
        {
            return 0;
        }

        if (state.State.Pending.Count >= _options.MaxQueueLength)
        {
            throw new QueueFullException($"The queue holds {state.State.Pending.Count} requests, its limit; retry later.");
        }

        state.State.Pending.Add(item);
        await WriteAsync();
        WakeIdleSilos();
        return Position(item.Id) ?? 0;
    }

    public async Task<WorkLease?> Lease(string silo, IReadOnlyList<string> loadedModels, int maxBatch)
    {
        if (state.State.Pending.Count == 0)
        {
            return null;
        }

        var order = FairOrder.Of(state.State.Pending, state.State.LastServedKey);
        var head = order.Take(AffinityLookahead).FirstOrDefault(i => loadedModels.Contains(i.Spec.Model)) ?? order[0];
        var items = new List<WorkItem> { head };
        if (maxBatch > 1 && head.BatchKey is { } batchKey)
        {
            items.AddRange(order.Where(i => i != head && i.BatchKey == batchKey).Take(maxBatch - 1));
        }

        foreach (var item in items)
        {
            state.State.Pending.Remove(item);
        }

        var lease = new LeaseRecord { Id = Guid.NewGuid(), Silo = silo, Items = items, ExpiresAt = time.GetUtcNow() + _options.LeaseDuration };
        state.State.Leases[lease.Id] = lease;
        state.State.LastServedKey = head.ApiKey;
        await WriteAsync();
        return new WorkLease(lease.Id, silo, [.. items], lease.ExpiresAt);
    }

    public async Task<IReadOnlyList<WorkItem>> LeaseMore(Guid leaseId, int max)
    {
        if (max <= 0 || !state.State.Leases.TryGetValue(leaseId, out var lease) || lease.Items.Count == 0 || lease.Items[0].BatchKey is not { } batchKey)
        {
            return [];
        }

        var more = FairOrder.Of(state.State.Pending, state.State.LastServedKey).Where(i => i.BatchKey == batchKey).Take(max).ToList();
        if (more.Count == 0)
        {
            return [];
        }

        foreach (var item in more)
        {
            state.State.Pending.Remove(item);
            lease.Items.Add(item);
        }

        await WriteAsync();
        return more;
    }

    public Task<bool> Renew(Guid leaseId)
    {
        // Deadlines are soft state: not persisted (a reactivated queue grants every lease a fresh one).
        if (!state.State.Leases.TryGetValue(leaseId, out var lease))
        {
            return Task.FromResult(false);
        }

        lease.ExpiresAt = time.GetUtcNow() + _options.LeaseDuration;
        return Task.FromResult(true);
    }

    public async Task Complete(Guid leaseId, string itemId)
    {
        var changed = false;
        if (state.State.Leases.TryGetValue(leaseId, out var lease))
        {
            changed = lease.Items.RemoveAll(i => i.Id == itemId) > 0;
            if (lease.Items.Count == 0)
            {
                state.State.Leases.Remove(leaseId);
            }
        }

        // A lease that was lost and requeued while its silo still finished the work: drop the requeued copy.
        changed |= state.State.Pending.RemoveAll(i => i.Id == itemId) > 0;
        if (changed)
        {
            state.State.Completed++;
            await WriteAsync();
        }
    }

    public async Task Abandon(Guid leaseId)
    {
        if (state.State.Leases.Remove(leaseId, out var lease))
        {
            Requeue(lease.Items, lease.Silo, "handed back");
            await WriteAsync();
        }
    }

    public async Task Retry(Guid leaseId, string reason)
    {
        if (state.State.Leases.Remove(leaseId, out var lease))
        {
            await LoseAsync(lease, "a transient fault: " + reason);
            await WriteAsync();
        }
    }

    public async Task Cancel(string itemId)
    {
        var changed = state.State.Pending.RemoveAll(i => i.Id == itemId) > 0;
        foreach (var lease in state.State.Leases.Values)
        {
            // The worker learns from the result cache that nobody waits; the item just stops counting as queued work.
            changed |= lease.Items.RemoveAll(i => i.Id == itemId) > 0;
        }

        foreach (var empty in state.State.Leases.Where(l => l.Value.Items.Count == 0).Select(l => l.Key).ToList())
        {
            state.State.Leases.Remove(empty);
        }

        if (changed)
        {
            await WriteAsync();
        }
    }

    public Task Subscribe(IWorkAvailableObserver observer)
    {
        _idle[observer] = time.GetUtcNow() + IWorkQueueGrain.SubscriptionLifetime;
        return Task.CompletedTask;
    }

    public Task Unsubscribe(IWorkAvailableObserver observer)
    {
        _idle.Remove(observer);
        return Task.CompletedTask;
    }

    public Task<int?> GetPosition(string itemId) => Task.FromResult(Position(itemId));

    public Task<QueueStats> GetStats()
    {
        var bySilo = state.State.Leases.Values
            .GroupBy(l => l.Silo)
            .ToDictionary(g => g.Key, g => g.Sum(l => l.Items.Count));
        var oldest = state.State.Pending.Count == 0 ? 0 : (time.GetUtcNow() - state.State.Pending.Min(i => i.EnqueuedAt)).TotalSeconds;
        return Task.FromResult(new QueueStats(
            state.State.Pending.Count,
            bySilo.Values.Sum(),
            bySilo,
            Math.Max(0, oldest),
            state.State.Completed,
            state.State.Requeued,
            state.State.Failed));
    }

    public Task<ScaleSignal> GetScaleSignal() => Task.FromResult(ComputeScaleSignal());

    private ScaleSignal ComputeScaleSignal()
    {
        var silos = membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        var signal = _scale.Compute(state.State.Pending.Count, state.State.Leases.Values.Sum(l => l.Items.Count), silos, time.GetUtcNow());
        metrics.SetDesiredSilos(signal.DesiredSilos);
        return signal;
    }

    private async Task CheckLeasesAsync(CancellationToken cancellationToken)
    {
        PublishMetrics();
        ComputeScaleSignal();
        if (state.State.Leases.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        var snapshot = membership.CurrentSnapshot;
        var lost = state.State.Leases.Values
            .Where(l => l.ExpiresAt <= now || SiloIsGone(snapshot, l.Silo))
            .ToList();
        if (lost.Count == 0)
        {
            return;
        }

        foreach (var lease in lost)
        {
            state.State.Leases.Remove(lease.Id);
            await LoseAsync(lease, lease.ExpiresAt <= now ? "its lease expired" : "its silo left the cluster");
        }

        await WriteAsync();
    }

    private static bool SiloIsGone(ClusterMembershipSnapshot snapshot, string silo)
    {
        try
        {
            var status = snapshot.GetSiloStatus(SiloAddress.FromParsableString(silo));
            return status is SiloStatus.Dead or SiloStatus.None;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private void Requeue(IReadOnlyList<WorkItem> items, string silo, string why)
    {
        if (items.Count == 0)
        {
            return;
        }

        // Back to the front, in their original order: they were next before.
        state.State.Pending.InsertRange(0, items);
        WakeIdleSilos();
        state.State.Requeued += items.Count;
        metrics.Requeued(items.Count);
        Log.Requeued(logger, items.Count, silo, why);
    }

    /// <summary>Lost work: each item counts an attempt; the ones out of attempts fail, the others go back to the queue.</summary>
    private async Task LoseAsync(LeaseRecord lease, string why)
    {
        var again = new List<WorkItem>();
        foreach (var item in lease.Items.Select(i => i with { Attempts = i.Attempts + 1 }))
        {
            if (item.Attempts < _options.MaxAttempts || !await GiveUpAsync(item, why))
            {
                again.Add(item);
            }
        }

        Requeue(again, lease.Silo, why);
    }

    private async Task<bool> GiveUpAsync(WorkItem item, string why)
    {
        try
        {
            // The cache fails every job waiting for this work; an identical request later starts afresh.
            await GrainFactory.GetGrain<IResultCacheGrain>(item.Id).ReportFailed($"The work was lost {item.Attempts} times, the last time because {why}; not retried.");
        }
        catch (Exception e)
        {
            // Nobody was told: keep the work, and give up at the next loss.
            Log.GiveUpFailed(logger, e, item.Id);
            return false;
        }

        state.State.Failed++;
        Log.GaveUp(logger, item.Id, item.Attempts, why);
        return true;
    }

    private void WakeIdleSilos()
    {
        var now = time.GetUtcNow();
        foreach (var (observer, expires) in _idle.ToList())
        {
            if (expires <= now)
            {
                _idle.Remove(observer);
                continue;
            }

            try
            {
                observer.WorkAvailable(); // one-way: a gone silo costs nothing here, its subscription lapses
            }
            catch (Exception e)
            {
                Log.WakeFailed(logger, e);
                _idle.Remove(observer);
            }
        }
    }

    private int? Position(string itemId)
    {
        if (!state.State.Pending.Exists(i => i.Id == itemId))
        {
            return null;
        }

        var index = FairOrder.Of(state.State.Pending, state.State.LastServedKey).FindIndex(i => i.Id == itemId);
        return index < 0 ? null : index;
    }

    private bool IsLeased(string itemId) => state.State.Leases.Values.Any(l => l.Items.Exists(i => i.Id == itemId));

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Memory is now ahead of storage: start over from what storage holds at the next call.
            DeactivateOnIdle();
            throw;
        }

        PublishMetrics();
    }

    private void PublishMetrics()
    {
        var oldest = state.State.Pending.Count == 0 ? 0 : (time.GetUtcNow() - state.State.Pending.Min(i => i.EnqueuedAt)).TotalSeconds;
        metrics.SetQueue(state.State.Pending.Count, state.State.Leases.Values.Sum(l => l.Items.Count), Math.Max(0, oldest));
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Requeued {Count} item(s) leased by {Silo}: {Reason}")]
        public static partial void Requeued(ILogger logger, int count, string silo, string reason);

        [LoggerMessage(2, LogLevel.Error, "Gave up on {Item} after {Attempts} lost attempts (the last: {Reason}); its jobs fail")]
        public static partial void GaveUp(ILogger logger, string item, int attempts, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Could not fail {Item}, out of attempts; it stays queued")]
        public static partial void GiveUpFailed(ILogger logger, Exception exception, string item);

        [LoggerMessage(4, LogLevel.Debug, "Waking an idle silo failed; it polls")]
        public static partial void WakeFailed(ILogger logger, Exception exception);
    }
}
