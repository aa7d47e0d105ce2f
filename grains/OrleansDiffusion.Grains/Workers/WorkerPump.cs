using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Each silo's pull loop: while a worker slot is free it leases work from the queue (the queue prefers items whose
/// model this silo already holds) and starts it on a local stateless inference worker. Idle slots ask again every
/// <see cref="DiffusionOptions.PollInterval"/>, so no silo sits idle while work waits. It runs while the silo is
/// active: a stopping silo leases nothing more, lets running work finish for <see cref="DiffusionOptions.DrainTimeout"/>,
/// then hands the rest back.
/// </summary>
public sealed partial class WorkerPump(
    IGrainFactory grains,
    WorkerSlots slots,
    InferenceRunner runner,
    ModelHost models,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<WorkerPump> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly DiffusionOptions _options = options.Value;
    private CancellationTokenSource? _stopping;
    private Task? _loop;

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

        await runner.DrainAsync(_options.DrainTimeout, cancellationToken);
        _stopping.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var queue = grains.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
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
                lease = await queue.Lease(runner.SiloId, models.LoadedModels, _options.MaxBatchSize);
                if (lease is not null && _options.BatchWindow > TimeSpan.Zero && lease.Items.Count < _options.MaxBatchSize && lease.Items[0].BatchKey is not null)
                {
                    // The batching window: give compatible requests a moment to arrive and join this batch.
                    await Task.Delay(_options.BatchWindow, time, CancellationToken.None);
                    var more = await queue.LeaseMore(lease.LeaseId, _options.MaxBatchSize - lease.Items.Count);
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
                try
                {
                    await Task.Delay(_options.PollInterval, time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            try
            {
                await grains.GetGrain<IInferenceWorkerGrain>(0).Start(lease);
            }
            catch (Exception e)
            {
                Log.StartFailed(logger, e);
                slots.Release();
                try
                {
                    await queue.Abandon(lease.LeaseId);
                }
                catch (Exception abandon)
                {
                    Log.LeaseFailed(logger, abandon); // the lease expires and the work is requeued anyway
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Leasing work from the queue failed; retrying")]
        public static partial void LeaseFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Error, "Starting leased work failed; handing it back")]
        public static partial void StartFailed(ILogger logger, Exception exception);
    }
}
