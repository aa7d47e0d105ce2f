using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Each silo's pull loop: while a worker slot is free it leases work from the queue partitions (those of the models this
/// silo already holds first, then the others, starting one partition further each time so that partitions take turns)
/// and starts it on the local stateless inference worker of its model. An idle pump is woken by a partition when work
/// arrives, and asks again every <see cref="DiffusionOptions.PollInterval"/> in any case (a wake-up is soft state and
/// can be lost), so no silo sits idle while work waits. It runs while the silo is
/// active: a stopping silo leases nothing more, lets running work finish for <see cref="DiffusionOptions.DrainTimeout"/>,
/// then hands the rest back.
/// </summary>
public sealed partial class WorkerPump(
    IGrainFactory grains,
    WorkerSlots slots,
    InferenceRunner runner,
    ModelHost models,
    ModelCatalog catalog,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<WorkerPump> logger) : ILifecycleParticipant<ISiloLifecycle>, IWorkAvailableObserver
{
    // Renewed well before the queue lets it lapse.
    private static readonly TimeSpan Resubscribe = IQueuePartitionGrain.SubscriptionLifetime / 3;

    private readonly DiffusionOptions _options = options.Value;
    private readonly string[] _partitions = [.. QueuePartitions.All(catalog.Models.Select(m => m.Id), options.Value.QueuePartitions)];
    private string? _wokenBy;
    private int _turn;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IWorkAvailableObserver? _observer;
    private DateTimeOffset _subscribedAt = DateTimeOffset.MinValue;
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private volatile bool _dead;

    /// <summary>Whether this silo takes new work (false once it starts stopping).</summary>
    public bool Accepting { get; private set; }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WorkerPump), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.PreloadWarmModels && _options.WarmModels.Count > 0)
        {
            models.Preload();
        }

        if (slots.Capacity == 0)
        {
            return Task.CompletedTask;
        }

        _stopping = new CancellationTokenSource();
        Accepting = true;
        _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        Accepting = false;
        if (_stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        if (_observer is not null && !_dead)
        {
            try
            {
                await Task.WhenAll(_partitions.Select(p => Partition(p).Unsubscribe(_observer)));
            }
            catch (Exception e)
            {
                Log.LeaseFailed(logger, e); // the subscription lapses on its own
            }

            grains.DeleteObjectReference<IWorkAvailableObserver>(_observer);
        }

        await runner.DrainAsync(_options.DrainTimeout, cancellationToken);
        _stopping.Dispose();
    }

    /// <summary>
    /// Makes the coming stop leave without a word, as the death of the process would: its wake-up subscriptions stay
    /// behind in the partitions. For tests of an in-process cluster, whose "killed" silos otherwise unsubscribe.
    /// </summary>
    internal void SimulateProcessDeath() => _dead = true;

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await slots.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            WorkLease? lease = null;
            try
            {
                lease = await LeaseAsync();
                if (lease is not null && _options.BatchWindow > TimeSpan.Zero && lease.Items.Count < _options.MaxBatchSize && lease.Items[0].BatchKey is not null)
                {
                    // The batching window: give compatible requests a moment to arrive and join this batch.
                    await Task.Delay(_options.BatchWindow, time, CancellationToken.None);
                    var more = await Partition(lease.Partition).LeaseMore(lease.LeaseId, _options.MaxBatchSize - lease.Items.Count);
                    lease = lease with { Items = [.. lease.Items, .. more] };
                }
            }
            catch (Exception e)
            {
                Log.LeaseFailed(logger, e);
            }

            if (lease is null)
            {
                slots.Release();
                if (await SubscribeAsync())
                {
                    continue; // work that arrived before the subscription woke nobody: look once more
                }

                // Woken, or the poll interval passed: ask either way.
                var wake = Volatile.Read(ref _wake).Task;
                if (!wake.IsCompleted)
                {
                    await Task.WhenAny(wake, Task.Delay(_options.PollInterval, time, cancellationToken));
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                // A wake-up from now on completes the next wait at once.
                Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                continue;
            }

            try
            {
                await grains.GetGrain<IInferenceWorkerGrain>(lease.Items[0].Model).Start(lease);
            }
            catch (Exception e)
            {
                Log.StartFailed(logger, e);
                slots.Release();
                try
                {
                    await Task.WhenAll(lease.Items.Select(i => Partition(lease.Partition).Release(i.Key, lease.LeaseId, lost: false)));
                }
                catch (Exception release)
                {
                    Log.LeaseFailed(logger, release); // the lease expires and the work is requeued anyway
                }
            }
        }
    }

    /// <summary>
    /// Leases from the first partition that has work: the one that woke this pump, then those of the models this silo
    /// holds, then the rest, starting one further each time.
    /// </summary>
    private async Task<WorkLease?> LeaseAsync()
    {
        var loaded = models.LoadedModels;
        var start = (int)((uint)_turn++ % (uint)_partitions.Length);
        var woken = Interlocked.Exchange(ref _wokenBy, null);
        var order = _partitions.Skip(start).Concat(_partitions.Take(start))
            .OrderBy(p => p == woken ? 0 : loaded.Contains(ModelOf(p)) ? 1 : 2);
        foreach (var partition in order)
        {
            if (await Partition(partition).Lease(runner.SiloId, _options.MaxBatchSize) is { } lease)
            {
                return lease;
            }
        }

        return null;
    }

    private static string ModelOf(string partition) => partition[..partition.LastIndexOf('~')];

    private IQueuePartitionGrain Partition(string partition) => grains.GetGrain<IQueuePartitionGrain>(partition);

    /// <summary>A partition's wake-up: the next wait ends at once (wake-ups coalesce), and that partition is asked first.</summary>
    Task IWorkAvailableObserver.WorkAvailable(string partition)
    {
        Volatile.Write(ref _wokenBy, partition);
        Volatile.Read(ref _wake).TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>Subscribes (or renews) this idle pump for wake-ups; true when the subscription was new.</summary>
    private async Task<bool> SubscribeAsync()
    {
        var now = time.GetUtcNow();
        if (now - _subscribedAt < Resubscribe)
        {
            return false;
        }

        try
        {
            _observer ??= grains.CreateObjectReference<IWorkAvailableObserver>(this);
            await Task.WhenAll(_partitions.Select(p => Partition(p).Subscribe(_observer, runner.SiloId)));

            // Keeps the queue overview (gauges, scaling signal) active wherever it lives, also after its silo left.
            await grains.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).Touch();
        }
        catch (Exception e)
        {
            Log.LeaseFailed(logger, e);
            return false;
        }

        var fresh = now - _subscribedAt > IQueuePartitionGrain.SubscriptionLifetime;
        _subscribedAt = now;
        return fresh;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Leasing work from the queue failed; retrying")]
        public static partial void LeaseFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Starting leased work failed; handing it back")]
        public static partial void StartFailed(ILogger logger, Exception exception);
    }
}
