using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Runs leased work on this silo, off the grain scheduler: loads the model through the <see cref="ModelHost"/>,
/// runs the engine (several compatible requests as one batch), stores every image before reporting success, and
/// keeps the lease alive meanwhile. A stopping silo hands unfinished work back to the queue.
/// </summary>
public sealed partial class InferenceRunner(
    IGrainFactory grains,
    ModelHost models,
    IImageStore images,
    WorkerSlots slots,
    DiffusionMetrics metrics,
    ILocalSiloDetails silo,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<InferenceRunner> logger) : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Run> _running = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly DiffusionOptions _options = options.Value;
    private volatile bool _dead;
    private int _completedRuns;
    private int _completedItems;

    /// <summary>The silo name the queue knows this silo by.</summary>
    public string SiloId { get; } = silo.SiloAddress.ToParsableString();

    /// <summary>Leases running now.</summary>
    public int Running => _running.Count;

    /// <summary>Pipeline executions this silo completed (a batch counts once).</summary>
    public int CompletedRuns => _completedRuns;

    /// <summary>Requests this silo completed (each item of a batch counts).</summary>
    public int CompletedItems => _completedItems;

    private IWorkQueueGrain Queue => grains.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);

    /// <summary>Starts a lease in the background; its worker slot is released when it ends.</summary>
    public void Start(WorkLease lease)
    {
        var run = new Run(lease, CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
        _running[lease.LeaseId] = run;
        run.Task = Task.Run(() => ExecuteAsync(run));
    }

    /// <summary>Lets running work finish for up to <paramref name="timeout"/>, then cancels it and hands it back.</summary>
    public async Task DrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var all = Task.WhenAll(_running.Values.Select(r => r.Task ?? Task.CompletedTask));
        try
        {
            await all.WaitAsync(timeout, time, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            Log.HandingBack(logger, _running.Count);
            await _stopping.CancelAsync();
            await all.WaitAsync(TimeSpan.FromSeconds(30), time, CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>
    /// Stops every run at once with no hand-back and no report, as the death of the process would: for tests of an
    /// in-process cluster, whose "killed" silos otherwise keep computing on the shared thread pool.
    /// </summary>
    internal void SimulateProcessDeath()
    {
        _dead = true;
        _stopping.Cancel();
    }

    private async Task ExecuteAsync(Run run)
    {
        var lease = run.Lease;
        metrics.RunStarted();
        using var renewal = new CancellationTokenSource();
        var renewing = RenewAsync(run, renewal.Token);
        try
        {
            var active = new List<WorkItem>();
            foreach (var item in lease.Items)
            {
                if (await Cache(item).ReportStarted(SiloId))
                {
                    active.Add(item);
                }
                else
                {
                    await Queue.Complete(lease.LeaseId, item.Id); // nobody waits (cancelled) or already done
                }
            }

            if (active.Count > 0)
            {
                await GenerateAsync(run, active);
            }
        }
        catch (OperationCanceledException) when (_dead)
        {
            // A dead process reports nothing; the queue requeues its lease when the silo is declared dead.
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            await TryAsync(() => Queue.Abandon(lease.LeaseId));
        }
        catch (OperationCanceledException) when (run.LeaseLost)
        {
            // The queue already gave this work to another silo.
        }
        catch (OperationCanceledException)
        {
            // Every job waiting for this work was cancelled.
            foreach (var item in lease.Items)
            {
                await TryAsync(() => Queue.Complete(lease.LeaseId, item.Id));
            }
        }
        catch (Exception e) when (IsPermanent(e))
        {
            metrics.InferenceFailed();
            Log.Failed(logger, e, lease.LeaseId);
            foreach (var item in lease.Items)
            {
                await TryAsync(() => Cache(item).ReportFailed(e.Message));
                await TryAsync(() => Queue.Complete(lease.LeaseId, item.Id));
            }
        }
        catch (Exception e)
        {
            // Storage blips and unreachable grains: the work goes back to the queue and runs again later.
            metrics.InferenceFailed();
            Log.Retrying(logger, e, lease.LeaseId);
            await TryAsync(() => Queue.Retry(lease.LeaseId, e.Message));
        }
        finally
        {
            await renewal.CancelAsync();
            await renewing;
            metrics.RunEnded();
            _running.TryRemove(lease.LeaseId, out _);
            run.Cancellation.Dispose();
            slots.Release();
        }
    }

    private async Task GenerateAsync(Run run, List<WorkItem> items)
    {
        var token = run.Cancellation.Token;
        var requests = new List<GenerationRequest>(items.Count);
        foreach (var item in items)
        {
            float[]? initImage = null;
            if (item.Spec.InitImageKey is { } key)
            {
                var bytes = await images.ReadAsync(key, token)
                    ?? throw new InvalidImageException(InvalidImageReason.Corrupt, $"The init image {key} is not in the image store.");
                initImage = InitImageLoader.LoadChw(bytes, item.Spec.Width, item.Spec.Height);
            }

            requests.Add(ModelCatalog.ToEngineRequest(item.Spec, initImage, _options.PreviewInterval));
        }

        var started = Stopwatch.GetTimestamp();
        IReadOnlyList<GenerationResult> results;
        var progress = new CacheProgress([.. items.Select(Cache)], run.Cancellation, metrics);
        using (var model = models.Acquire(items[0].Spec.Model))
        {
            results = new DiffusionPipeline(model.Model).GenerateBatch(requests, progress, token);
        }

        await progress.FlushAsync();

        metrics.InferenceRun(results.Sum(r => r.Images.Count), Stopwatch.GetElapsedTime(started));
        Interlocked.Increment(ref _completedRuns);
        Interlocked.Add(ref _completedItems, items.Count);

        // Stored before success is reported: a job never succeeds without its images. Once computed, a result is
        // stored and reported even while the silo stops (handing it back would compute it again); only a dead
        // process reports nothing.
        for (var i = 0; i < items.Count; i++)
        {
            if (_dead)
            {
                throw new OperationCanceledException("The process died.");
            }

            var refs = await Task.WhenAll(results[i].Images.Select(image => images.SaveImageAsync(image.Png, image.Seed, image.Width, image.Height, CancellationToken.None)));
            await Cache(items[i]).ReportCompleted(refs, SiloId);
            await Queue.Complete(run.Lease.LeaseId, items[i].Id);
        }
    }

    private async Task RenewAsync(Run run, CancellationToken cancellationToken)
    {
        var period = _options.LeaseDuration / 3;
        try
        {
            while (true)
            {
                await Task.Delay(period, time, cancellationToken);
                bool renewed;
                try
                {
                    renewed = await Queue.Renew(run.Lease.LeaseId);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    continue; // the queue is moving or storage blinked: try again at the next period
                }

                if (!renewed)
                {
                    run.LeaseLost = true;
                    await run.Cancellation.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private IResultCacheGrain Cache(WorkItem item) => grains.GetGrain<IResultCacheGrain>(item.Id);

    private static bool IsPermanent(Exception e) =>
        e is InvalidModelException or InvalidImageException or ArgumentException or OnnxRuntimeException;

    private async Task TryAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception e)
        {
            Log.CallFailed(logger, e);
        }
    }

    private sealed class Run(WorkLease lease, CancellationTokenSource cancellation)
    {
        public WorkLease Lease { get; } = lease;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        public Task? Task { get; set; }

        public volatile bool LeaseLost;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Inference for lease {Lease} failed")]
        public static partial void Failed(ILogger logger, Exception exception, Guid lease);

        [LoggerMessage(2, LogLevel.Warning, "Inference for lease {Lease} hit a transient fault; handing it back to the queue")]
        public static partial void Retrying(ILogger logger, Exception exception, Guid lease);

        [LoggerMessage(3, LogLevel.Warning, "Stopping: handing {Count} running lease(s) back to the queue")]
        public static partial void HandingBack(ILogger logger, int count);

        [LoggerMessage(4, LogLevel.Warning, "A call to the queue or the result cache failed")]
        public static partial void CallFailed(ILogger logger, Exception exception);
    }
}
