using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Utilities;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// One job: accepts the request (persisted before <see cref="Submit"/> returns), joins the result cache, and
/// follows the inference through the cache's reports. While the job is not finished, a reminder re-joins the cache
/// every minute, so that a lost message or a lost queue entry can delay a job but never lose it.
/// </summary>
public sealed class GenerationJobGrain(
    [PersistentState("job", StorageNames.Jobs)] IPersistentState<JobState> state,
    ModelCatalog catalog,
    TimeProvider time,
    ILogger<GenerationJobGrain> logger) : Grain, IGenerationJobGrain, IRemindable
{
    private const string WatchdogReminder = "watchdog";

    private readonly ObserverManager<IJobObserver> _observers = new(TimeSpan.FromMinutes(10), logger);

    // The work can finish before this grain has run the rest of Submit after the cache's Join (the tiny model under
    // load does, in milliseconds), and outcomes interleave. An outcome that arrives while Submit runs waits for it; one
    // that finds no job recorded is kept here and applied by Submit. Before, it was dropped, and the job waited for its
    // watchdog, a minute later.
    private Task _submitting = Task.CompletedTask;
    private Func<Task>? _earlyOutcome;
    private int _step;
    private int _totalSteps;

    private Guid Id => this.GetPrimaryKey();

    public async Task<JobSnapshot> Submit(GenerationSpec spec, string apiKey)
    {
        var submitted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _submitting = submitted.Task;
        JobSnapshot snapshot;
        try
        {
            snapshot = await SubmitAsync(spec, apiKey);
        }
        finally
        {
            submitted.SetResult();
        }

        if (_earlyOutcome is { } early && !snapshot.IsTerminal)
        {
            _earlyOutcome = null;
            await early();
            snapshot = Snapshot(null);
        }

        return snapshot;
    }

    private async Task<JobSnapshot> SubmitAsync(GenerationSpec spec, string apiKey)
    {
        var normalized = catalog.Normalize(spec);
        if (state.State.Status != JobStatus.None)
        {
            return state.State.Spec == normalized
                ? await GetSnapshot()
                : throw new ArgumentException($"Job {Id} already exists with another request.", nameof(spec));
        }

        var key = catalog.KeyOf(normalized);
        var joined = await Cache(key).Join(Id, normalized, apiKey);

        state.State.Spec = normalized;
        state.State.ApiKey = apiKey;
        state.State.RequestKey = key;
        state.State.CreatedAt = time.GetUtcNow();
        if (joined.Outcome == CacheOutcome.Hit)
        {
            state.State.Status = JobStatus.Succeeded;
            state.State.Cached = true;
            state.State.Images = [.. joined.Images];
            state.State.CompletedAt = state.State.CreatedAt;
        }
        else
        {
            state.State.Status = JobStatus.Queued;
            await this.RegisterOrUpdateReminder(WatchdogReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }

        await state.WriteStateAsync();
        var snapshot = Snapshot(joined.QueuePosition);
        Notify(snapshot.Status == JobStatus.Succeeded ? JobEventKind.Completed : JobEventKind.Queued, snapshot);
        return snapshot;
    }

    public async Task<JobSnapshot> GetSnapshot()
    {
        int? position = null;
        if (state.State.Status == JobStatus.Queued && state.State.RequestKey is { } key)
        {
            position = await GrainFactory.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetPosition(key);
        }

        return Snapshot(position);
    }

    public async Task<JobSnapshot> Cancel()
    {
        if (state.State.Status is JobStatus.None || IsTerminal)
        {
            return Snapshot(null);
        }

        state.State.Status = JobStatus.Cancelled;
        state.State.CompletedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await Cache(state.State.RequestKey!).Leave(Id);
        await StopWatchdogAsync();
        var snapshot = Snapshot(null);
        Notify(JobEventKind.Cancelled, snapshot);
        return snapshot;
    }

    public async Task<JobSnapshot> Subscribe(IJobObserver observer)
    {
        _observers.Subscribe(observer, observer);
        return await GetSnapshot();
    }

    public Task Unsubscribe(IJobObserver observer)
    {
        _observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    public async Task OnStarted(string silo, DateTimeOffset startedAt)
    {
        if (state.State.Status is not (JobStatus.Queued or JobStatus.Running))
        {
            return;
        }

        // A run that restarts elsewhere (its silo died) counts its steps from the beginning again; a start report that
        // arrives after this run's first progress reports (one-way messages may be reordered) changes nothing.
        var wasQueued = MarkRunning(startedAt);
        if (state.State.Silo is not null && state.State.Silo != silo)
        {
            _step = 0;
        }

        state.State.Silo = silo;
        await state.WriteStateAsync();
        if (wasQueued)
        {
            Notify(JobEventKind.Started, Snapshot(null));
        }
    }

    public Task OnProgress(int step, int totalSteps, double elapsedSeconds, byte[]? preview)
    {
        // Reports can overtake each other (and the start); only newer steps of a live job count.
        if (state.State.Status is not (JobStatus.Running or JobStatus.Queued) || step <= _step)
        {
            return Task.CompletedTask;
        }

        if (MarkRunning(time.GetUtcNow()))
        {
            Notify(JobEventKind.Started, Snapshot(null));
        }

        _step = step;
        _totalSteps = totalSteps;
        double? eta = step > 0 ? elapsedSeconds / step * (totalSteps - step) : null;
        var snapshot = Snapshot(null);
        _observers.Notify(o => o.OnJobEvent(new JobEvent(Id, JobEventKind.Progress, snapshot, preview, eta)));
        return Task.CompletedTask;
    }

    public async Task OnCompleted(IReadOnlyList<ImageRef> images, bool cached, string? silo)
    {
        await _submitting;
        if (state.State.Status is JobStatus.None)
        {
            _earlyOutcome = () => OnCompleted(images, cached, silo);
            return;
        }

        if (IsTerminal)
        {
            return;
        }

        state.State.Status = JobStatus.Succeeded;
        state.State.Images = [.. images];
        state.State.Cached = cached;
        state.State.Silo = silo ?? state.State.Silo;
        state.State.StartedAt ??= state.State.CreatedAt;
        state.State.CompletedAt = time.GetUtcNow();
        _step = _totalSteps;
        await state.WriteStateAsync();
        await StopWatchdogAsync();
        Notify(JobEventKind.Completed, Snapshot(null));
    }

    public async Task OnFailed(string error)
    {
        await _submitting;
        if (state.State.Status is JobStatus.None)
        {
            _earlyOutcome = () => OnFailed(error);
            return;
        }

        if (IsTerminal)
        {
            return;
        }

        state.State.Status = JobStatus.Failed;
        state.State.Error = error;
        state.State.CompletedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await StopWatchdogAsync();
        Notify(JobEventKind.Failed, Snapshot(null));
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.Status is JobStatus.None || IsTerminal)
        {
            await StopWatchdogAsync();
            return;
        }

        // Re-joining is idempotent: it answers with the images when they are done, and re-queues lost work.
        var joined = await Cache(state.State.RequestKey!).Join(Id, state.State.Spec!, state.State.ApiKey);
        if (joined.Outcome == CacheOutcome.Hit)
        {
            await OnCompleted(joined.Images, cached: false, silo: null);
        }
    }

    /// <summary>Queued becomes running (persisted with the next write); true when it changed.</summary>
    private bool MarkRunning(DateTimeOffset startedAt)
    {
        if (state.State.Status != JobStatus.Queued)
        {
            return false;
        }

        state.State.Status = JobStatus.Running;
        state.State.StartedAt = startedAt;
        return true;
    }

    private bool IsTerminal => state.State.Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;

    private IResultCacheGrain Cache(string key) => GrainFactory.GetGrain<IResultCacheGrain>(key);

    private async Task StopWatchdogAsync()
    {
        var reminder = await this.GetReminder(WatchdogReminder);
        if (reminder is not null)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private void Notify(JobEventKind kind, JobSnapshot snapshot) =>
        _observers.Notify(o => o.OnJobEvent(new JobEvent(Id, kind, snapshot)));

    private JobSnapshot Snapshot(int? position) => new()
    {
        Id = Id,
        Status = state.State.Status,
        Spec = state.State.Spec,
        QueuePosition = state.State.Status == JobStatus.Queued ? position : null,
        Step = state.State.Status == JobStatus.Succeeded ? _totalSteps : _step,
        TotalSteps = _totalSteps,
        Cached = state.State.Cached,
        Images = state.State.Images,
        Error = state.State.Error,
        CreatedAt = state.State.CreatedAt,
        StartedAt = state.State.StartedAt,
        CompletedAt = state.State.CompletedAt,
        RequestKey = state.State.RequestKey,
        Silo = state.State.Silo,
    };
}
