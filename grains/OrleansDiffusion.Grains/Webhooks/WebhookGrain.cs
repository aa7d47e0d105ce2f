using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// One job's webhook. It watches the job's inference (as the SignalR relay does), reads the job when something
/// happens, and turns each stage into at most one event: <c>queued</c>, <c>started</c>, then one of <c>completed</c>,
/// <c>failed</c>, <c>cancelled</c>, with <c>progress</c> in between at most every 500 ms. Events go out one at a time,
/// oldest first; a failed attempt is retried after <see cref="WebhookOptions.RetryDelay"/>, doubling up to
/// <see cref="WebhookOptions.MaxRetryDelay"/>, until <see cref="WebhookOptions.MaxAttempts"/>. Every stage event is
/// stored (<see cref="IWebhookStore"/>) before it is sent and removed once delivered, so a silo that dies loses none: the
/// outbox resumes the webhook on another silo, which watches the job again. Progress is kept in memory only (the next
/// one supersedes it). The record is deleted once the outcome is delivered.
/// </summary>
public sealed partial class WebhookGrain(
    IWebhookStore store,
    WebhookSender sender,
    IOptions<DiffusionOptions> options,
    DiffusionMetrics metrics,
    TimeProvider time,
    ILogger<WebhookGrain> logger) : Grain, IWebhookGrain
{
    /// <summary>The owner forgets a watcher after 10 minutes; renewed well before.</summary>
    private static readonly TimeSpan WatchRenewal = TimeSpan.FromMinutes(4);

    /// <summary>At most two progress events a second.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>How soon the job is read again when an event says more than the job showed (its view lags the owner's by up to 100 ms).</summary>
    private static readonly TimeSpan Recheck = TimeSpan.FromMilliseconds(150);

    /// <summary>How many times it is read again before the next resume from the outbox takes over.</summary>
    private const int MaxRechecks = 40;

    private const WebhookEvents Outcomes = WebhookEvents.Completed | WebhookEvents.Failed | WebhookEvents.Cancelled;

    private readonly WebhookOptions _options = options.Value.Webhooks;
    private readonly EventOrder _order = new();
    private WebhookRecord? _record;
    private bool _loaded;

    // The latest progress event not yet delivered, in memory only, and when the last one was made.
    private WebhookMessage? _progress;
    private long _progressAt;

    // The furthest stage the inference's events announced, and how often the job was read again to see it.
    private int _announced;
    private int _rechecks;

    private IGrainTimer? _tick;
    private IGrainTimer? _renewal;

    // The inference watched, if any.
    private string? _watched;

    private Guid Job => this.GetPrimaryKey();

    private int Partition => WebhookRecord.PartitionOf(Job, _options.Partitions);

    private bool Settled => _record is null || (_record.Seen & Outcomes) != 0;

    private bool WantsProgressNow =>
        (_record!.Subscription.Events & WebhookEvents.Progress) != 0 && (_progressAt == 0 || time.GetElapsedTime(_progressAt) >= ProgressInterval);

    public async Task Follow(WebhookSubscription subscription)
    {
        await LoadAsync();
        if (_record is not null)
        {
            return;
        }

        _record = new WebhookRecord { Job = Job, Subscription = subscription };
        await store.WriteAsync(Partition, _record, CancellationToken.None);
        Log.Following(logger, Job, new Uri(subscription.Target).Authority, subscription.Events);
        await FollowJobAsync();
    }

    public async Task Resume()
    {
        await LoadAsync();
        if (_record is null)
        {
            DeactivateOnIdle();
            return;
        }

        await FollowJobAsync();
    }

    public async Task<WebhookStatus> GetStatus()
    {
        await LoadAsync();
        return new WebhookStatus(_record is not null, (_record?.Pending.Count ?? 0) + (_progress is null ? 0 : 1), RuntimeIdentity);
    }

    public async Task OnInferenceEvent(InferenceEvent inferenceEvent)
    {
        if (!_loaded)
        {
            // A new activation (its silo died, or it was collected): the event brings it back sooner than the outbox.
            await Resume();
        }

        if (Settled || !_order.TryAdvance(inferenceEvent) || (inferenceEvent.Kind == InferenceEventKind.Left && inferenceEvent.Job != Job))
        {
            return;
        }

        Announce(inferenceEvent.Kind);
        var progress = inferenceEvent.Kind == InferenceEventKind.Progress;
        if (progress && RankOf(_record!.Seen) >= 1 && !WantsProgressNow)
        {
            return; // nothing to make of it: the job is not read
        }

        await ObserveAsync(progress);
    }

    /// <summary>Reads the job, watches its inference while it is unfinished, and delivers what is due.</summary>
    private async Task FollowJobAsync()
    {
        var key = await ObserveAsync(progress: false);
        if (!Settled && key is not null)
        {
            var status = await GrainFactory.GetGrain<IResultCacheGrain>(key).Watch(this.AsReference<IWebhookGrain>());
            _watched = key;
            _renewal ??= this.RegisterGrainTimer(RenewAsync, new GrainTimerCreationOptions(WatchRenewal, WatchRenewal) { KeepAlive = true });
            if (_order.TryAdvance(status.Current))
            {
                Announce(status.Current.Kind);
            }
        }

        Schedule(TimeSpan.Zero);
    }

    /// <summary>Turns the job as it is now into the events it owes; returns the job's request key.</summary>
    private async Task<string?> ObserveAsync(bool progress)
    {
        var job = await GrainFactory.GetGrain<IGenerationJobGrain>(Job).GetSnapshot();
        var reached = job.Status switch
        {
            JobStatus.Queued => WebhookEvents.Queued,
            JobStatus.Running => WebhookEvents.Started,
            JobStatus.Succeeded => WebhookEvents.Completed,
            JobStatus.Failed => WebhookEvents.Failed,
            JobStatus.Cancelled => WebhookEvents.Cancelled,
            _ => WebhookEvents.None,
        };

        if (reached == WebhookEvents.None)
        {
            // The job is gone (its record expired): nothing more will happen to it.
            _record!.Seen |= WebhookEvents.Cancelled;
            _progress = null;
            await SaveAsync();
            return null;
        }

        // A stage passed between two looks is still sent, before the later one, with the job as it is now: a job that
        // ran was queued and started (a cache hit was neither); one that failed or was cancelled was at least queued.
        WebhookEvents[] stages = reached switch
        {
            WebhookEvents.Completed when job.Cached => [WebhookEvents.Completed],
            WebhookEvents.Completed => [WebhookEvents.Queued, WebhookEvents.Started, WebhookEvents.Completed],
            WebhookEvents.Started => [WebhookEvents.Queued, WebhookEvents.Started],
            WebhookEvents.Queued => [WebhookEvents.Queued],
            _ => [WebhookEvents.Queued, reached],
        };

        var now = time.GetUtcNow();
        var wasSettled = Settled;
        var added = false;
        foreach (var stage in stages.Where(s => (_record!.Seen & s) == 0))
        {
            _record!.Seen |= stage;
            if ((_record.Subscription.Events & stage) != 0)
            {
                _record.Pending.Add(Message(stage, $"msg_{Job:N}_{WebhookPayload.NameOf(stage)}", job, now));
                added = true;
            }
        }

        if (Settled)
        {
            // The outcome closes the stream: progress after it would be news of the past.
            _progress = null;
            StopWatching();
        }
        else if (progress && reached == WebhookEvents.Started && WantsProgressNow)
        {
            // The newest progress replaces one not delivered yet, and inherits its attempts and back-off.
            var next = Message(WebhookEvents.Progress, $"msg_{Job:N}_progress_{job.Step}", job, now);
            if (_progress is { } replaced)
            {
                next.Attempts = replaced.Attempts;
                next.NextAttemptAt = replaced.NextAttemptAt;
            }

            _progress = next;
            _progressAt = time.GetTimestamp();
        }

        if (added || Settled != wasSettled)
        {
            await SaveAsync();
        }

        Schedule(TimeSpan.Zero);
        return job.RequestKey;
    }

    /// <summary>Delivers what is due, oldest first, one at a time; then sleeps until the next attempt or recheck.</summary>
    private async Task TickAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!Settled && _announced > RankOf(_record!.Seen))
            {
                // The job lagged behind its inference when last read.
                if (++_rechecks > MaxRechecks)
                {
                    _announced = 0;
                }

                await ObserveAsync(progress: false);
            }

            while (_record is not null && (_record.Pending.FirstOrDefault() ?? _progress) is { } message)
            {
                var now = time.GetUtcNow();
                if (message.NextAttemptAt > now)
                {
                    Schedule(message.NextAttemptAt - now);
                    return;
                }

                var delivered = await sender.SendAsync(_record.Subscription, message.Id, message.Body, cancellationToken);
                message.Attempts++;
                if (!delivered && message.Attempts < _options.MaxAttempts)
                {
                    message.NextAttemptAt = now + Backoff(message.Attempts);
                    if (message != _progress)
                    {
                        await SaveAsync(); // its attempts outlive this silo
                    }

                    continue;
                }

                if (!delivered)
                {
                    metrics.WebhookDelivery("abandoned");
                    Log.Abandoned(logger, message.Id, message.Attempts);
                }

                if (message == _progress)
                {
                    _progress = null;
                }
                else
                {
                    _record.Pending.RemoveAt(0);
                    await SaveAsync();
                }
            }

            if (!Settled && _announced > RankOf(_record!.Seen))
            {
                Schedule(Recheck);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Storage or the job's grain could not be reached: everything stored is tried again.
            Log.TickFailed(logger, e, Job);
            Schedule(_options.RetryDelay);
        }
    }

    private async Task RenewAsync(CancellationToken cancellationToken)
    {
        try
        {
            await FollowJobAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.TickFailed(logger, e, Job); // the outbox resumes the webhook in any case
        }
    }

    /// <summary>Runs <see cref="TickAsync"/> after <paramref name="delay"/> (one timer, moved as needed).</summary>
    private void Schedule(TimeSpan delay)
    {
        if (_tick is null)
        {
            _tick = this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        }
        else
        {
            _tick.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Stops renewing the watch and leaves the inference's watchers (best effort: they expire anyway).</summary>
    private void StopWatching()
    {
        _renewal?.Dispose();
        _renewal = null;
        if (_watched is { } key)
        {
            _watched = null;
            GrainFactory.GetGrain<IResultCacheGrain>(key).Unwatch(this.AsReference<IWebhookGrain>()).Ignore();
        }
    }

    private TimeSpan Backoff(int attempts)
    {
        var delay = _options.RetryDelay * Math.Pow(2, Math.Min(attempts - 1, 30));
        return delay < _options.MaxRetryDelay ? delay : _options.MaxRetryDelay;
    }

    /// <summary>Remembers the furthest stage the inference's events announced (the job may show it a moment later).</summary>
    private void Announce(InferenceEventKind kind)
    {
        var rank = kind switch
        {
            InferenceEventKind.Started or InferenceEventKind.Progress => 1,
            InferenceEventKind.Completed or InferenceEventKind.Failed or InferenceEventKind.Left => 2,
            _ => 0,
        };
        if (rank > _announced)
        {
            _announced = rank;
            _rechecks = 0;
        }
    }

    /// <summary>0 queued (or nothing yet), 1 started, 2 finished.</summary>
    private static int RankOf(WebhookEvents seen) => (seen & Outcomes) != 0 ? 2 : (seen & WebhookEvents.Started) != 0 ? 1 : 0;

    private WebhookMessage Message(WebhookEvents stage, string id, JobSnapshot job, DateTimeOffset now) => new()
    {
        Id = id,
        Event = stage,
        Body = WebhookPayload.Write(stage, job, _record!.Subscription.BaseUrl, now),
        NextAttemptAt = now,
    };

    private async Task LoadAsync()
    {
        if (!_loaded)
        {
            _record = await store.ReadAsync(Partition, Job, CancellationToken.None);
            _loaded = true;
        }
    }

    /// <summary>Writes the record, or deletes it once the outcome is seen and nothing is left to deliver.</summary>
    private async Task SaveAsync()
    {
        if (Settled && _record!.Pending.Count == 0)
        {
            await store.DeleteAsync(Partition, Job, CancellationToken.None);
            Log.Finished(logger, Job);
            _record = null;
            _progress = null;
            StopWatching();
            DeactivateOnIdle();
            return;
        }

        await store.WriteAsync(Partition, _record!, CancellationToken.None);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Webhook of job {Job} follows it for {Host} ({Events})")]
        public static partial void Following(ILogger logger, Guid job, string host, WebhookEvents events);

        [LoggerMessage(2, LogLevel.Warning, "Webhook {MessageId} given up after {Attempts} attempts")]
        public static partial void Abandoned(ILogger logger, string messageId, int attempts);

        [LoggerMessage(3, LogLevel.Warning, "Webhook of job {Job} could not go on; trying again shortly")]
        public static partial void TickFailed(ILogger logger, Exception exception, Guid job);

        [LoggerMessage(4, LogLevel.Debug, "Webhook of job {Job} delivered everything it owed")]
        public static partial void Finished(ILogger logger, Guid job);
    }
}
