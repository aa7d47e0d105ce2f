using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Utilities;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Cache;

/// <summary>
/// The owner of one inference, keyed by its request key. Identical requests anywhere in the cluster join it; it queues
/// a small entry in its queue partition, hands the spec to the worker that leases the entry, turns the worker's reports
/// into one numbered event stream for every consumer, stores the outcome, tells the waiting jobs, and completes its own
/// queue entry. A finished result answers later identical requests from storage until its results period has passed
/// (<see cref="RetentionOptions.Results"/>); then an identical request computes again, and the retention sweep removes
/// the entry and its images.
/// </summary>
public sealed partial class ResultCacheGrain(
    [PersistentState("result", StorageNames.Cache)] IPersistentState<CacheState> state,
    IOptions<DiffusionOptions> options,
    IRetentionStore retention,
    RetentionMarker marker,
    DiffusionMetrics metrics,
    TimeProvider time,
    ILogger<ResultCacheGrain> logger) : Grain, IResultCacheGrain
{
    // 0.5 + 1 + 2 + 4 + 8 s between six attempts: about as long as a dead silo takes to be declared dead.
    private const int NotifyAttempts = 6;

    private readonly DiffusionOptions _options = options.Value;
    private static readonly TimeSpan ObserverLifetime = TimeSpan.FromMinutes(10);

    private readonly ObserverManager<IInferenceObserver> _observers = new(ObserverLifetime, logger);

    // The run in progress: soft state. A restarted owner adopts the lease of the first report it receives.
    private Guid? _lease;
    private string? _silo;
    private DateTimeOffset? _startedAt;
    private int _step;
    private int _totalSteps;
    private double? _eta;
    private byte[]? _preview;
    private long _seq;

    private string Key => this.GetPrimaryKeyString();

    private IQueuePartitionGrain Partition =>
        GrainFactory.GetGrain<IQueuePartitionGrain>(QueuePartitions.Of(state.State.Spec!.Model, Key, _options.QueuePartitions));

    public async Task<CacheJoinResult> Join(Guid jobId, GenerationSpec spec, string apiKey, int maxUnits)
    {
        if (state.State.Status == CacheEntryStatus.Done && await IsServableAsync())
        {
            metrics.CacheHit();
            return new CacheJoinResult(CacheOutcome.Hit, state.State.Images, null, state.State.CompletedAt);
        }

        switch (state.State.Status)
        {
            case CacheEntryStatus.Computing:
                var joined = !state.State.Waiters.Contains(jobId);
                if (joined)
                {
                    state.State.Waiters.Add(jobId);
                    await WriteAsync();
                    metrics.DedupJoin();
                }

                // Idempotent: puts the entry back if its partition lost it (an entry is never lost otherwise).
                var position = _lease is null ? await Partition.Enqueue(EntryOf()) : (int?)null;
                return new CacheJoinResult(joined ? CacheOutcome.Joined : CacheOutcome.Started, [], position);

            default:
                // Nothing stored, a failure, or a result past its period: a new inference.
                await ClaimInputAsync(spec);

                // Only new work is charged, before it is queued: a burst of distinct requests stops at the quota.
                await ChargeAsync(spec, apiKey, maxUnits);
                state.State.Status = CacheEntryStatus.Computing;
                state.State.ExpiredAt = null;
                state.State.Waiters = [jobId];
                state.State.Spec = spec;
                state.State.ApiKey = apiKey;
                state.State.QueuedAt = time.GetUtcNow();
                state.State.Attempts = 0;

                // Both at once: an entry queued before the spec is stored waits for this call to end (a worker's Start
                // queues behind it), and one whose owner failed to store the spec is completed by its first Start.
                var write = WriteAsync();
                var enqueue = Partition.Enqueue(EntryOf());
                int queued;
                try
                {
                    await Task.WhenAll(write, enqueue);
                    queued = enqueue.Result;
                }
                catch (Exception)
                {
                    // Not queued (full, or storage failed): as if the request never came.
                    await FreeQuotaAsync();
                    if (write.IsCompletedSuccessfully)
                    {
                        state.State.Status = CacheEntryStatus.Empty;
                        state.State.Waiters = [];
                        await WriteAsync();
                    }

                    throw;
                }

                Emit(Event(InferenceEventKind.Queued) with { QueuePosition = queued });
                return new CacheJoinResult(CacheOutcome.Started, [], queued);
        }
    }

    public async Task Leave(Guid jobId)
    {
        if (!state.State.Waiters.Remove(jobId))
        {
            return;
        }

        var unwanted = state.State.Waiters.Count == 0 && state.State.Status == CacheEntryStatus.Computing;
        DateTimeOffset? ended = null;
        if (unwanted)
        {
            // Nobody wants this result any more: drop the work. A running worker cancels its run when the answer to its next
            // progress report (or lease renewal) says so, which stops the engine within the step after the one it reported.
            state.State.Status = CacheEntryStatus.Empty;
            ended = state.State.RetainFrom = time.GetUtcNow();
            ResetRun();
        }

        await WriteAsync();
        if (ended is { } at)
        {
            MarkEnd(at);
        }

        Emit(Event(InferenceEventKind.Left) with { Job = jobId });
        if (unwanted)
        {
            await FreeQuotaAsync();
            await Partition.Complete(Key, failed: false);
        }
    }

    public async Task<InferenceStatus> GetStatus(Guid jobId) =>
        new(state.State.Status, await CurrentAsync(), state.State.Waiters.Contains(jobId), state.State.LastFailedAt, state.State.LastError);

    public async Task<InferenceStatus> Watch(IInferenceObserver observer)
    {
        // Watchers live in memory: stay until they would have expired anyway (they renew every few minutes).
        DelayDeactivation(ObserverLifetime);
        _observers.Subscribe(observer, observer);
        return new(state.State.Status, await CurrentAsync(), false, state.State.LastFailedAt, state.State.LastError);
    }

    public Task Unwatch(IInferenceObserver observer)
    {
        _observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    public async Task<GenerationSpec?> Start(Guid leaseId, string silo)
    {
        if (!IsWanted)
        {
            await CompleteEntryAsync(failed: false); // done meanwhile, or every job left
            return null;
        }

        _lease = leaseId;
        _silo = silo;
        _startedAt = time.GetUtcNow();
        _step = 0;
        _totalSteps = state.State.Spec!.Steps;
        _eta = null;
        _preview = null;
        Emit(Event(InferenceEventKind.Started));
        return state.State.Spec;
    }

    public Task<bool> Progress(Guid leaseId, int step, int totalSteps, double elapsedSeconds, byte[]? preview)
    {
        if (!IsWanted || !IsCurrent(leaseId))
        {
            return Task.FromResult(false);
        }

        // Reports can overtake each other: only a newer step counts, and it gets the next number.
        if (step > _step)
        {
            _step = step;
            _totalSteps = totalSteps;
            _eta = step > 0 ? elapsedSeconds / step * (totalSteps - step) : null;
            _preview = preview ?? _preview;
            Emit(Event(InferenceEventKind.Progress) with { Preview = preview });
        }

        return Task.FromResult(true);
    }

    public async Task<bool> Renew(Guid leaseId, string silo) =>
        IsWanted && IsCurrent(leaseId) && await Partition.Renew(Key, leaseId, silo);

    public async Task Complete(Guid leaseId, IReadOnlyList<ImageRef> images, string silo)
    {
        if (state.State.Status != CacheEntryStatus.Done)
        {
            // Stored even when nobody waits any more: it is computed, and answers the next identical request.
            var waiters = state.State.Waiters;
            state.State.Status = CacheEntryStatus.Done;
            state.State.Images = [.. images];
            state.State.Waiters = [];
            state.State.Inferences++;
            state.State.CompletedAt = state.State.RetainFrom = time.GetUtcNow();
            state.State.Silo = silo;
            state.State.Attempts = 0;
            await WriteAsync();
            MarkEnd(state.State.CompletedAt.Value);
            ResetRun();
            await FreeQuotaAsync();
            var completed = Event(InferenceEventKind.Completed);
            Emit(completed);
            NotifyJobs(waiters, completed);
        }

        await CompleteEntryAsync(failed: false);
    }

    public async Task Fail(Guid leaseId, string error)
    {
        if (state.State.Status == CacheEntryStatus.Computing)
        {
            await FailAsync(error);
        }
        else
        {
            await CompleteEntryAsync(failed: false);
        }
    }

    public async Task Retry(Guid leaseId, string reason, bool countAttempt)
    {
        if (!IsWanted)
        {
            await CompleteEntryAsync(failed: false);
            return;
        }

        if (countAttempt && !await CountAttemptAsync(reason))
        {
            return;
        }

        if (IsCurrent(leaseId))
        {
            ResetRun();
            Emit(Event(InferenceEventKind.Queued));
        }

        await Partition.Release(Key, leaseId, lost: countAttempt);
    }

    public async Task OnLeaseLost(Guid leaseId, string reason)
    {
        // The partition has put the entry back already.
        if (!IsWanted)
        {
            await CompleteEntryAsync(failed: false);
            return;
        }

        if (await CountAttemptAsync(reason) && (_lease is null || _lease == leaseId))
        {
            ResetRun();
            Emit(Event(InferenceEventKind.Queued));
        }
    }

    public Task<CacheEntry> GetEntry() =>
        Task.FromResult(new CacheEntry(state.State.Status, state.State.Images, state.State.Waiters.Count, state.State.Inferences, state.State.Attempts));

    public async Task<ResultExpiry> Expire(DateTimeOffset cutoff)
    {
        if (state.State.Status == CacheEntryStatus.Computing)
        {
            return new ResultExpiry(ExpiryOutcome.Kept, []); // marked again when it stops computing
        }

        if (!state.RecordExists)
        {
            return new ResultExpiry(ExpiryOutcome.Missing, []);
        }

        if (state.State.ExpiredAt is null)
        {
            if ((state.State.RetainFrom ?? state.State.CompletedAt ?? state.State.LastFailedAt) is { } from && from > cutoff)
            {
                return new ResultExpiry(ExpiryOutcome.Kept, [], from); // used again since it was marked
            }

            // Answers no request from now on, and remembers its images until the sweep has deleted them.
            state.State.Status = CacheEntryStatus.Empty;
            state.State.ExpiredAt = time.GetUtcNow();
            await WriteAsync();
        }

        return new ResultExpiry(ExpiryOutcome.Expired, state.State.Images);
    }

    public async Task<bool> Forget()
    {
        if (state.State.ExpiredAt is null || state.State.Status == CacheEntryStatus.Computing)
        {
            return false;
        }

        await ClearAsync();
        return true;
    }

    public Task<bool> UsesInput(string inputKey) =>
        Task.FromResult(state.State.Status == CacheEntryStatus.Computing && state.State.Spec is { } spec && InputUse.Reads(spec, inputKey));

    /// <summary>
    /// Whether the stored result still answers requests: not past its results period. A hit in the last
    /// <see cref="RetentionOptions.Jobs"/> of the result's life starts its period again (and touches its images), so
    /// that the job it answers is deleted before the images are; an image found gone makes the entry compute again.
    /// </summary>
    private async Task<bool> IsServableAsync()
    {
        var settings = _options.Retention;
        if (settings.PeriodOf(RetentionKind.Results) is not { } period)
        {
            return true;
        }

        var now = time.GetUtcNow();
        var from = state.State.RetainFrom ?? state.State.CompletedAt ?? now;
        if (from + period <= now)
        {
            return false;
        }

        if (from + period >= now + (settings.PeriodOf(RetentionKind.Jobs) ?? period))
        {
            return true;
        }

        var touched = await Task.WhenAll(state.State.Images.Select(i => retention.TouchAsync(i.Key, now, CancellationToken.None)));
        if (touched.Contains(false))
        {
            return false;
        }

        state.State.RetainFrom = now;
        await WriteAsync();
        return true;
    }

    /// <summary>
    /// The entry stopped computing at <paramref name="end"/> (its <see cref="CacheState.RetainFrom"/>): the sweep is told
    /// to look at it once the results period has passed (the mark is written behind the caller's back, see
    /// <see cref="RetentionMarker"/>).
    /// </summary>
    private void MarkEnd(DateTimeOffset end)
    {
        if (_options.Retention.PeriodOf(RetentionKind.Results) is not null)
        {
            marker.Mark(new RetentionMark(RetentionKind.Results, Key, end));
        }
    }

    /// <summary>
    /// A new inference that reads inputs (an init image, a mask) uses them: each is touched (so that the sweep keeps it)
    /// and marked as used by this entry (so that the sweep keeps touching it while the inference waits, however long
    /// the queue).
    /// </summary>
    private async Task ClaimInputAsync(GenerationSpec spec)
    {
        if (_options.Retention.PeriodOf(RetentionKind.InputUses) is null)
        {
            return;
        }

        // Absent when the API stores it only now (it stores an upload once the job is accepted, and stores it touched);
        // from here on the mark keeps it while this inference waits or runs.
        var now = time.GetUtcNow();
        foreach (var input in InputUse.KeysOf(spec))
        {
            await retention.TouchAsync(input, now, CancellationToken.None);
            marker.Mark(new RetentionMark(RetentionKind.InputUses, InputUse.IdOf(input, Key), now));
        }
    }

    private async Task ClearAsync()
    {
        await state.ClearStateAsync();
        state.State = new CacheState();
        ResetRun();
        DeactivateOnIdle();
    }

    private bool IsWanted => state.State.Status == CacheEntryStatus.Computing && state.State.Waiters.Count > 0;

    /// <summary>Whether reports under <paramref name="leaseId"/> count; an owner that restarted adopts the first lease it hears of.</summary>
    private bool IsCurrent(Guid leaseId)
    {
        _lease ??= leaseId;
        return _lease == leaseId;
    }

    /// <summary>Counts one lost attempt; out of attempts, the jobs fail. True when the work goes on.</summary>
    private async Task<bool> CountAttemptAsync(string reason)
    {
        state.State.Attempts++;
        if (state.State.Attempts >= _options.MaxAttempts)
        {
            Log.GaveUp(logger, Key, state.State.Attempts, reason);
            await FailAsync($"The work was lost {state.State.Attempts} times, the last time because {reason}; not retried.");
            return false;
        }

        await WriteAsync();
        return true;
    }

    private async Task FailAsync(string error)
    {
        // Not cached: an identical request later tries again.
        var waiters = state.State.Waiters;
        state.State.Status = CacheEntryStatus.Empty;
        state.State.Waiters = [];
        state.State.LastError = error;
        state.State.LastFailedAt = state.State.RetainFrom = time.GetUtcNow();
        state.State.Attempts = 0;
        await WriteAsync();
        MarkEnd(state.State.LastFailedAt.Value);
        ResetRun();
        await FreeQuotaAsync();
        var failed = Event(InferenceEventKind.Failed);
        Emit(failed);
        NotifyJobs(waiters, failed);
        await CompleteEntryAsync(failed: true);
    }

    private async Task CompleteEntryAsync(bool failed)
    {
        if (state.State.Spec is null)
        {
            return;
        }

        try
        {
            await Partition.Complete(Key, failed);
        }
        catch (Exception e)
        {
            // The entry stays queued; whoever leases it next hears that it is decided, and this runs again.
            Log.CompleteFailed(logger, e, Key);
        }
    }

    /// <summary>
    /// Charges a new inference's cost to the key that starts it. Throws <see cref="RequestOverQuotaException"/> or
    /// <see cref="QuotaExceededException"/> when the key's quota cannot take it.
    /// </summary>
    private async Task ChargeAsync(GenerationSpec spec, string apiKey, int maxUnits)
    {
        var units = QueueEntry.CostOf(spec);
        var answer = await Quota(apiKey).TryCharge(Key, units, maxUnits);
        switch (answer.Decision)
        {
            case QuotaDecision.OverQuota:
                throw new RequestOverQuotaException(
                    $"This request costs {units} units of work (images x steps x width x height / 512^2) and the concurrency quota of API key '{apiKey}' is {maxUnits} units in all: it can never run. Ask for fewer images or steps, or a smaller size.");
            case QuotaDecision.Full:
                throw new QuotaExceededException(
                    $"API key '{apiKey}' has {answer.UnitsInProgress} units of work queued or running; this request needs {units} more and the quota is {maxUnits}. Retry when some of it ends.");
        }
    }

    /// <summary>
    /// The inference ended or was dropped: its units go back to the key that started it before the caller hears so, so a
    /// client that saw its job end may submit again at once. Safe to await: the quota calls this grain only through the
    /// interleaving <see cref="GetEntry"/>. A call that fails is made good by the quota's own check when it is full.
    /// </summary>
    private async Task FreeQuotaAsync()
    {
        try
        {
            await Quota(state.State.ApiKey).Free(Key);
        }
        catch (Exception e)
        {
            Log.FreeFailed(logger, e, Key);
        }
    }

    private IKeyQuotaGrain Quota(string apiKey) => GrainFactory.GetGrain<IKeyQuotaGrain>(apiKey);

    private void ResetRun()
    {
        _lease = null;
        _silo = null;
        _startedAt = null;
        _step = 0;
        _eta = null;
        _preview = null;
    }

    /// <summary>The inference now as the event a new consumer starts from (its number is the last one given).</summary>
    private async Task<InferenceEvent> CurrentAsync()
    {
        var current = state.State.Status switch
        {
            CacheEntryStatus.Done => Event(InferenceEventKind.Completed, next: false),
            CacheEntryStatus.Computing when _lease is not null => Event(_step > 0 ? InferenceEventKind.Progress : InferenceEventKind.Started, next: false) with { Preview = _preview },
            CacheEntryStatus.Computing => Event(InferenceEventKind.Queued, next: false) with { QueuePosition = await Partition.GetPosition(Key) },
            _ when state.State.LastFailedAt is not null => Event(InferenceEventKind.Failed, next: false),
            _ => Event(InferenceEventKind.Left, next: false),
        };
        return current;
    }

    private InferenceEvent Event(InferenceEventKind kind, bool next = true)
    {
        if (next)
        {
            // Numbers start from the clock, so that they keep increasing when the owner moves to another silo.
            _seq = Math.Max(_seq + 1, time.GetUtcNow().UtcTicks);
        }

        return new InferenceEvent
        {
            Key = Key,
            Seq = _seq,
            Kind = kind,
            Step = kind == InferenceEventKind.Completed ? _totalSteps : _step,
            TotalSteps = _totalSteps > 0 ? _totalSteps : state.State.Spec?.StepsWithHires() ?? 0,
            EtaSeconds = _eta,
            Images = state.State.Status == CacheEntryStatus.Done ? state.State.Images : [],
            Error = kind == InferenceEventKind.Failed ? state.State.LastError : null,
            Silo = state.State.Status == CacheEntryStatus.Done ? state.State.Silo : _silo,
            StartedAt = _startedAt,
            CompletedAt = state.State.Status == CacheEntryStatus.Done ? state.State.CompletedAt : state.State.LastFailedAt,
        };
    }

    private void Emit(InferenceEvent inferenceEvent) => _observers.Notify(o => o.OnInferenceEvent(inferenceEvent));

    private QueueEntry EntryOf()
    {
        var spec = state.State.Spec!;
        return new QueueEntry(Key, state.State.ApiKey, spec.Model, QueueEntry.BatchKeyOf(spec), QueueEntry.CostOf(spec), state.State.QueuedAt ?? time.GetUtcNow());
    }

    /// <summary>
    /// Tells every waiting job the outcome, without holding up this grain. A job grain whose silo just died is
    /// reactivated elsewhere on a retry; one that still cannot be told reads the outcome from here when next asked.
    /// </summary>
    private void NotifyJobs(List<Guid> jobs, InferenceEvent outcome)
    {
        foreach (var id in jobs)
        {
            _ = NotifyAsync(GrainFactory.GetGrain<IGenerationJobGrain>(id), outcome);
        }
    }

    private static async Task NotifyAsync(IGenerationJobGrain job, InferenceEvent outcome)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await job.OnOutcome(outcome);
                return;
            }
            catch (Exception) when (attempt < NotifyAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 << attempt));
            }
            catch (Exception)
            {
                return;
            }
        }
    }

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
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Gave up on {Key} after {Attempts} lost attempts (the last: {Reason}); its jobs fail")]
        public static partial void GaveUp(ILogger logger, string key, int attempts, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Completing the queue entry of {Key} failed; it is completed when next leased")]
        public static partial void CompleteFailed(ILogger logger, Exception exception, string key);

        [LoggerMessage(3, LogLevel.Warning, "Freeing the quota units of {Key} failed; the key's quota frees them when it is next full")]
        public static partial void FreeFailed(ILogger logger, Exception exception, string key);
    }
}
