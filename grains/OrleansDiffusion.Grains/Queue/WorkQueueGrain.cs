using Microsoft.Extensions.Options;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Scaling;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// The queue as a whole: sums the partitions' live counts and units of work (every second, and on request) into the
/// queue gauges and the autoscaling signal. No job passes through it, and it stores nothing.
/// </summary>
public sealed class WorkQueueGrain(
    ModelCatalog catalog,
    IOptions<DiffusionOptions> options,
    IClusterMembershipService membership,
    DiffusionMetrics metrics,
    TimeProvider time) : Grain, IWorkQueueGrain
{
    private readonly ScaleCalculator _scale = new(options.Value.Scaling, options.Value.Capacity, time.GetUtcNow());
    private readonly string[] _partitions = [.. QueuePartitions.All(catalog.Models.Select(m => m.Id), options.Value.QueuePartitions)];

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(RefreshAsync, new GrainTimerCreationOptions(TimeSpan.Zero, TimeSpan.FromSeconds(1)) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.ClearQueue();
        return Task.CompletedTask;
    }

    public async Task<QueueStats> GetStats() => Sum(await CountAsync());

    public async Task<ScaleSignal> GetScaleSignal() => Signal(Sum(await CountAsync()));

    public Task Touch() => Task.CompletedTask;

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var stats = Sum(await CountAsync());
        metrics.SetQueue(stats.Pending, stats.Running, stats.OldestPendingSeconds);
        Signal(stats);
    }

    private Task<PartitionCounts[]> CountAsync() =>
        Task.WhenAll(_partitions.Select(p => GrainFactory.GetGrain<IQueuePartitionGrain>(p).GetCounts()));

    private QueueStats Sum(PartitionCounts[] counts)
    {
        var bySilo = counts.SelectMany(c => c.RunningBySilo).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Sum(p => p.Value));
        var oldest = counts.Where(c => c.OldestPending is not null).Select(c => c.OldestPending!.Value).DefaultIfEmpty(time.GetUtcNow()).Min();
        return new QueueStats(
            counts.Sum(c => c.Pending),
            bySilo.Values.Sum(),
            bySilo,
            Math.Max(0, (time.GetUtcNow() - oldest).TotalSeconds),
            counts.Sum(c => c.Completed),
            counts.Sum(c => c.Requeued),
            counts.Sum(c => c.GaveUp),
            counts.Length,
            counts.Sum(c => c.PendingUnits),
            counts.Sum(c => c.RunningUnits));
    }

    private ScaleSignal Signal(QueueStats stats)
    {
        var silos = membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        var signal = _scale.Compute(new QueueLoad(stats.Pending, stats.Running, stats.PendingUnits, stats.RunningUnits), silos, time.GetUtcNow());
        metrics.SetDesiredSilos(signal.DesiredSilos);
        return signal;
    }
}
