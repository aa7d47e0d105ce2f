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
/// Runs leased work on this silo, off the grain scheduler: asks each entry's owner for its spec, loads the model through
/// the <see cref="ModelHost"/>, runs the engine (several compatible requests as one batch) up to the decoded pixels, frees
/// its worker slot, then encodes each PNG and stores every image before reporting success to the owner, and keeps the lease alive through the owners meanwhile. A stopping silo hands
/// unfinished work back. It talks to the owners alone.
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
    private int _handedBack;

    /// <summary>The silo name the queue knows this silo by.</summary>
    public string SiloId { get; } = silo.SiloAddress.ToParsableString();

    /// <summary>Leases running now.</summary>
    public int Running => _running.Count;

    /// <summary>Pipeline executions this silo completed (a batch counts once).</summary>
    public int CompletedRuns => _completedRuns;

    /// <summary>Requests this silo completed (each item of a batch counts).</summary>
    public int CompletedItems => _completedItems;

    /// <summary>Requests this silo handed back unfinished while it stopped.</summary>
    public int HandedBack => _handedBack;

    /// <summary>
    /// Starts a lease in the background; its worker slot is released when the engine is done with it. The returned task
    /// ends when the run has ended (reported, handed back or dropped) and never faults.
    /// </summary>
    public Task Start(WorkLease lease)
    {
        var run = new Run(lease, CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
        _running[lease.LeaseId] = run;
        return run.Task = Task.Run(() => ExecuteAsync(run));
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
            // Each owner hands out its spec, or null when the result is no longer wanted (it completes its entry).
            var specs = await Task.WhenAll(lease.Items.Select(entry => OwnerOf(entry).Start(lease.LeaseId, SiloId)));
            for (var i = 0; i < specs.Length; i++)
            {
                if (specs[i] is { } spec)
                {
                    run.Items.Add(new RunItem(lease.Items[i], spec));
                }
            }

            if (run.Items.Count > 0)
            {
                await GenerateAsync(run);
            }
        }
        catch (OperationCanceledException) when (_dead)
        {
            // A dead process reports nothing; the partition's watchdog requeues its work when the silo is declared dead.
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Interlocked.Add(ref _handedBack, run.Items.Count(i => !i.Reported));
            await ForEachUnreportedAsync(run, item => OwnerOf(item.Entry).Retry(lease.LeaseId, "its silo stopped", countAttempt: false));
        }
        catch (OperationCanceledException)
        {
            // Every owner said the result is no longer wanted (cancelled) or the lease was lost: the owners decided.
        }
        catch (Exception e) when (IsPermanent(e))
        {
            metrics.InferenceFailed();
            Log.Failed(logger, e, lease.LeaseId);
            await ForEachUnreportedAsync(run, item => OwnerOf(item.Entry).Fail(lease.LeaseId, e.Message));
        }
        catch (Exception e)
        {
            // Storage blips and unreachable grains: the work goes back to the queue and runs again later.
            metrics.InferenceFailed();
            Log.Retrying(logger, e, lease.LeaseId);
            await ForEachUnreportedAsync(run, item => OwnerOf(item.Entry).Retry(lease.LeaseId, e.Message, countAttempt: true));
        }
        finally
        {
            await renewal.CancelAsync();
            await renewing;
            metrics.RunEnded();
            _running.TryRemove(lease.LeaseId, out _);
            run.Cancellation.Dispose();
            run.ReleaseSlot(slots);
        }
    }

    private async Task GenerateAsync(Run run)
    {
        var token = run.Cancellation.Token;
        var items = run.Items;
        var requests = new List<GenerationRequest>(items.Count);
        foreach (var item in items)
        {
            float[]? initImage = null;
            if (item.Spec.InitImageKey is { } key)
            {
                // Normalised by the API when it accepted the request: read as it is, never decoded again.
                initImage = NormalizedImage.ToChw(await ReadInputAsync(key, "init image", token), item.Spec.Width, item.Spec.Height);
            }

            float[]? mask = null;
            if (item.Spec.MaskKey is { } maskKey)
            {
                // Normalised by the API when it accepted the request (fitted and blurred): read as it is, never decoded.
                mask = NormalizedMask.ToPlane(await ReadInputAsync(maskKey, "mask", token), item.Spec.Width, item.Spec.Height);
            }

            requests.Add(ModelCatalog.ToEngineRequest(item.Spec, initImage, _options.PreviewInterval, mask));
        }

        var started = Stopwatch.GetTimestamp();
        IReadOnlyList<DecodedResult> results;
        var progress = new CacheProgress([.. items.Select(i => OwnerOf(i.Entry))], run.Lease.LeaseId, run.Cancellation, metrics);
        using (var model = models.Acquire(items[0].Spec.Model))
        {
            results = new DiffusionPipeline(model.Model).GenerateBatchDecoded(requests, progress, token);
        }

        try
        {
            // The engine is done: the slot takes the next work while these images are encoded, stored and reported.
            run.ReleaseSlot(slots);
            await FinishAllAsync(run, results, progress, started);
        }
        finally
        {
            foreach (var result in results)
            {
                result.Dispose();
            }
        }
    }

    private async Task FinishAllAsync(Run run, IReadOnlyList<DecodedResult> results, CacheProgress progress, long started)
    {
        var items = run.Items;
        await progress.FlushAsync();

        metrics.InferenceRun(results.Sum(r => r.Images.Count), Stopwatch.GetElapsedTime(started));
        Interlocked.Increment(ref _completedRuns);
        Interlocked.Add(ref _completedItems, items.Count);

        // Stored before success is reported: a job never succeeds without its images. Once computed, a result is
        // stored and reported even while the silo stops or its lease was lost (the owner keeps the first result; handing
        // it back would compute it again); only a dead process reports nothing. The items of a batch finish together.
        await Task.WhenAll(items.Select((item, i) => FinishAsync(run, item, results[i])));
    }

    /// <summary>
    /// A stored input (init image or mask). The API stores it once the request is accepted, so a worker that leases the
    /// work at once may arrive first: it waits a little, then fails the request if the input never comes (its API
    /// process died).
    /// </summary>
    private async Task<byte[]> ReadInputAsync(string key, string what, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            if (await images.ReadAsync(key, cancellationToken) is { } bytes)
            {
                return bytes;
            }

            if (time.GetElapsedTime(started) >= InputArrival)
            {
                throw new InvalidImageException(
                    InvalidImageReason.Corrupt, $"The {what} {key} did not reach the image store within {InputArrival.TotalSeconds:0} s.");
            }

            await Task.Delay(delay, time, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    /// <summary>How long a worker waits for an accepted request's init image and mask to be stored (the API stores them right after).</summary>
    internal static readonly TimeSpan InputArrival = TimeSpan.FromSeconds(30);

    private async Task FinishAsync(Run run, RunItem item, DecodedResult decoded)
    {
        if (_dead)
        {
            throw new OperationCanceledException("The process died.");
        }

        // Off the inference slot and off the grain scheduler: PNG encoding is CPU work of its own. The PNGs are encoded
        // into pooled buffers, which go back once stored: no image-sized array per job.
        await Task.Yield();
        var pngs = new PooledPng[decoded.Images.Count];
        ImageRef[] refs;
        try
        {
            for (var i = 0; i < pngs.Length; i++)
            {
                pngs[i] = decoded.Images[i].EncodePooledPng();
            }

            decoded.Dispose(); // the pixels are not needed while the PNGs are stored
            refs = await Task.WhenAll(decoded.Images.Select((image, i) => images.SaveImageAsync(pngs[i].Memory, image.Seed, image.Width, image.Height, CancellationToken.None)));
        }
        finally
        {
            foreach (var png in pngs)
            {
                png?.Dispose();
            }
        }
        await OwnerOf(item.Entry).Complete(run.Lease.LeaseId, refs, SiloId);
        item.Reported = true;
    }

    /// <summary>Renews each item's lease through its owner; when every item's lease is lost, the run stops.</summary>
    private async Task RenewAsync(Run run, CancellationToken cancellationToken)
    {
        var period = _options.LeaseDuration / 3;
        try
        {
            while (true)
            {
                await Task.Delay(period, time, cancellationToken);
                var live = 0;
                foreach (var entry in run.Lease.Items)
                {
                    try
                    {
                        if (await OwnerOf(entry).Renew(run.Lease.LeaseId, SiloId))
                        {
                            live++;
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        live++; // the owner or partition is moving, or storage blinked: try again at the next period
                    }
                }

                if (live == 0)
                {
                    await run.Cancellation.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ForEachUnreportedAsync(Run run, Func<RunItem, Task> action)
    {
        foreach (var item in run.Items.Where(i => !i.Reported))
        {
            await TryAsync(() => action(item));
        }
    }

    private IResultCacheGrain OwnerOf(QueueEntry entry) => grains.GetGrain<IResultCacheGrain>(entry.Key);

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

        /// <summary>The entries whose owners handed out a spec: the work of this run.</summary>
        public List<RunItem> Items { get; } = [];

        private int _slotReleased;

        /// <summary>Frees the run's worker slot, once: when the engine is done, or when the run ends otherwise.</summary>
        public void ReleaseSlot(WorkerSlots slots)
        {
            if (Interlocked.Exchange(ref _slotReleased, 1) == 0)
            {
                slots.Release();
            }
        }
    }

    private sealed class RunItem(QueueEntry entry, GenerationSpec spec)
    {
        public QueueEntry Entry { get; } = entry;

        public GenerationSpec Spec { get; } = spec;

        /// <summary>Its outcome reached the owner.</summary>
        public bool Reported { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Inference for lease {Lease} failed")]
        public static partial void Failed(ILogger logger, Exception exception, Guid lease);

        [LoggerMessage(2, LogLevel.Warning, "Inference for lease {Lease} hit a transient fault; handing it back")]
        public static partial void Retrying(ILogger logger, Exception exception, Guid lease);

        [LoggerMessage(3, LogLevel.Warning, "Stopping: handing {Count} running lease(s) back")]
        public static partial void HandingBack(ILogger logger, int count);

        [LoggerMessage(4, LogLevel.Warning, "A call to an inference owner failed")]
        public static partial void CallFailed(ILogger logger, Exception exception);
    }
}
