using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// One job. It saves the accepted request before it joins the inference (so no outcome can overtake it), and saves
/// again only for an outcome the inference's owner cannot tell later: a failure (not cached) or a cancellation. A
/// success, the step and the queue position are read from the owner. The record is read lazily: a new job (a fresh id,
/// the common case) is written without being read first, so accepting a job costs one storage write, a share of a
/// group-committed write of its key's job index (<see cref="IJobIndex"/>) and, when job records expire, a share of a
/// group of retention marks, written after the answer. A finished job older
/// than <see cref="RetentionOptions.Jobs"/> answers as unknown, and the retention sweep deletes its record.
/// </summary>
public sealed partial class GenerationJobGrain(
    ModelCatalog catalog,
    IOptions<DiffusionOptions> options,
    RetentionMarker marker,
    ImageStoreHealth storeHealth,
    IJobIndex index,
    TimeProvider time,
    ILogger<GenerationJobGrain> logger) : Grain, IGenerationJobGrain
{
    private const string StateName = "job";

    /// <summary>How old a running job's step may be when a client reads it.</summary>
    private static readonly TimeSpan LiveStatusAge = TimeSpan.FromMilliseconds(100);

    private readonly GrainState<JobState> _record = new(new JobState());
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly EventOrder _order = new();
    private readonly RetentionOptions _retention = options.Value.Retention;
    private IGrainStorage? _storage;
    private bool _loaded;

    // A success, known from the owner (not persisted here: the owner keeps the result).
    private Succeeded? _succeeded;

    // The inference as last read from its owner while it ran.
    private InferenceEvent? _live;
    private long _liveAt;

    private Guid Id => this.GetPrimaryKey();

    private JobState State => _record.State!;

    private IGrainStorage Storage => _storage ??= ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageNames.Jobs);

    private bool IsTerminal => _succeeded is not null || State.Status is JobStatus.Failed or JobStatus.Cancelled;

    public async Task<JobSnapshot> Submit(GenerationSpec spec, string apiKey, int maxUnits)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxUnits);
        try
        {
            return await SubmitAsync(spec, apiKey, maxUnits);
        }
        finally
        {
            // Whatever became of the job, its inputs were uploaded for it: the sweep looks at them a period from now
            // (after the inference, if one started, marked it as used).
            MarkInputs(spec);
        }
    }

    public Task<JobSnapshot> GetSnapshot() => ReadAsync(LiveStatusAge);

    public async Task<JobExpiry> Expire(DateTimeOffset cutoff, DateTimeOffset now)
    {
        await LoadAsync();
        if (State.Status == JobStatus.None)
        {
            return new JobExpiry(ExpiryOutcome.Missing);
        }

        if (State.CreatedAt > cutoff)
        {
            return new JobExpiry(ExpiryOutcome.Kept, State.CreatedAt);
        }

        // Unfinished only while its inference computes for it; asked directly, so that an old job that never reached
        // its inference is not joined to one now.
        if (!IsTerminal && await Owner.GetStatus(Id) is { Status: CacheEntryStatus.Computing, Waiting: true })
        {
            return new JobExpiry(ExpiryOutcome.Kept, now); // kept until it ends, looked at again a period from now
        }

        // The index row first: if its removal fails, the record and its mark stay, and the next sweep tries again.
        await index.RemoveAsync(State.ApiKey, Id, State.CreatedAt);
        await _writing.WaitAsync();
        try
        {
            await Storage.ClearStateAsync(StateName, this.GetGrainId(), _record);
        }
        finally
        {
            _writing.Release();
        }

        _record.State = new JobState();
        _succeeded = null;
        _live = null;
        DeactivateOnIdle();
        return new JobExpiry(ExpiryOutcome.Expired);
    }

    private async Task<JobSnapshot> SubmitAsync(GenerationSpec spec, string apiKey, int maxUnits)
    {
        var normalized = catalog.Normalize(spec);
        var key = catalog.KeyOf(normalized, apiKey);
        if (!_loaded || State.Status == JobStatus.None)
        {
            // Work whose images cannot be stored is refused while the store is known to be down (a 503 to retry).
            storeHealth.ThrowIfDown();

            // The owner loads its state while this job's record is written (it is joined only after).
            var warming = GrainFactory.GetGrain<IResultCacheGrain>(key).GetEntry();
            var created = await TryCreateAsync(normalized, apiKey, key, maxUnits);
            await IgnoreAsync(warming);
            if (created)
            {
                return await JoinAsync(removeOnFailure: true);
            }
        }

        // The same id (a retry, or a client's idempotency key) from the same key with the same request is the same job.
        if (State.Spec != normalized || State.ApiKey != apiKey)
        {
            throw new JobIdTakenException($"Job {Id} already exists with another request.");
        }

        return Visible(IsTerminal ? Snapshot(null) : await ReadCurrentAsync(LiveStatusAge));
    }

    public async Task<JobSnapshot> Cancel()
    {
        var current = await ReadAsync(TimeSpan.Zero);
        if (current.Status == JobStatus.None || current.IsTerminal)
        {
            return current;
        }

        State.Status = JobStatus.Cancelled;
        State.CompletedAt = time.GetUtcNow();
        await WriteAsync();
        await Owner.Leave(Id);
        return Snapshot(null);
    }

    public async Task OnOutcome(InferenceEvent outcome)
    {
        await LoadAsync();
        if (State.Status == JobStatus.None || IsTerminal || !_order.TryAdvance(outcome))
        {
            return;
        }

        _live = null;

        if (outcome.Kind == InferenceEventKind.Completed)
        {
            _succeeded = new Succeeded(outcome.Images, Cached: false, outcome.CompletedAt ?? time.GetUtcNow(), outcome.Silo);
        }
        else if (outcome.Kind == InferenceEventKind.Failed)
        {
            await RecordFailureAsync(outcome.Error);
        }
    }

    /// <summary>The job now, as a client sees it: a finished job past its retention period is gone.</summary>
    private async Task<JobSnapshot> ReadAsync(TimeSpan maxAge) => Visible(await ReadCurrentAsync(maxAge));

    /// <summary>
    /// The job now. A running job's step comes from its owner, asked at most once per <paramref name="maxAge"/>: a client
    /// that polls every few milliseconds costs the owner nothing more (the outcome is pushed here, never cached).
    /// </summary>
    private async Task<JobSnapshot> ReadCurrentAsync(TimeSpan maxAge)
    {
        await LoadAsync();
        if (State.Status == JobStatus.None || IsTerminal)
        {
            return Snapshot(null);
        }

        if (_live is { } live && time.GetElapsedTime(_liveAt) < maxAge)
        {
            return Snapshot(live);
        }

        var status = await Owner.GetStatus(Id);
        var snapshot = await FollowAsync(status);
        (_live, _liveAt) = status is { Status: CacheEntryStatus.Computing, Waiting: true } ? (status.Current, time.GetTimestamp()) : (null, 0);
        return snapshot;
    }

    /// <summary>
    /// Writes the accepted record without reading first, then hands its row to the key's job index and queues its
    /// retention mark (both written behind the answer, grouped with other jobs': see <see cref="IJobIndex"/> and
    /// <see cref="RetentionMarker"/>); false when a record already exists (it is loaded instead).
    /// </summary>
    private async Task<bool> TryCreateAsync(GenerationSpec spec, string apiKey, string key, int maxUnits)
    {
        var now = time.GetUtcNow();
        _record.State = new JobState
        {
            Status = JobStatus.Queued,
            Spec = spec,
            ApiKey = apiKey,
            RequestKey = key,
            MaxUnits = maxUnits,
            CreatedAt = now,
        };

        try
        {
            await WriteAsync();
            _loaded = true;
        }
        catch (InconsistentStateException)
        {
            // Submitted before (a client retry reaching a new activation): what is stored stands.
            _record.State = new JobState();
            _record.ETag = null;
            _loaded = false;
            await LoadAsync();
            return false;
        }

        // The key's job list learns of the job behind the answer (grouped with other jobs' rows, retried a few times):
        // a listing may miss a job for a moment after it was accepted, and a silo that dies meanwhile leaves it out.
        // The row is handed over before the answer (the memory index holds it at once, a table's joins its next group).
        var adding = index.AddAsync(apiKey, Id, now);
        _ = Task.Run(() => IndexAsync(adding, apiKey, Id, now));

        if (_retention.PeriodOf(RetentionKind.Jobs) is not null)
        {
            marker.Mark(new RetentionMark(RetentionKind.Jobs, Id.ToString("N"), now));
        }

        return true;
    }

    private async Task IndexAsync(Task adding, string apiKey, Guid job, DateTimeOffset createdAt)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await (attempt == 1 ? adding : index.AddAsync(apiKey, job, createdAt));
                return;
            }
            catch (Exception e) when (attempt < 4)
            {
                Log.IndexRetrying(logger, e, job);
                await Task.Delay(TimeSpan.FromSeconds(attempt), time);
            }
            catch (Exception e)
            {
                Log.IndexFailed(logger, e, job);
                return;
            }
        }
    }

    /// <summary>
    /// A finished job past its period answers as an unknown one (404), from the moment its period ends rather than
    /// when the sweep comes by. An unfinished one stays visible until it ends.
    /// </summary>
    private JobSnapshot Visible(JobSnapshot snapshot) =>
        snapshot.IsTerminal && _retention.PeriodOf(RetentionKind.Jobs) is { } period && State.CreatedAt + period <= time.GetUtcNow()
            ? new JobSnapshot { Id = Id }
            : snapshot;

    /// <summary>Marks the inputs (init image, mask) of a submitted job for the sweep; a key that is no input's is logged.</summary>
    private void MarkInputs(GenerationSpec spec)
    {
        if (_retention.PeriodOf(RetentionKind.Inputs) is null)
        {
            return;
        }

        foreach (var input in InputUse.KeysOf(spec))
        {
            try
            {
                marker.Mark(new RetentionMark(RetentionKind.Inputs, InputUse.InputIdOf(input), time.GetUtcNow()));
            }
            catch (ArgumentException e)
            {
                Log.InputMarkFailed(logger, e, input);
            }
        }
    }

    private async Task<JobSnapshot> JoinAsync(bool removeOnFailure)
    {
        CacheJoinResult joined;
        try
        {
            // A record from before quotas counted units has none: its job was accepted then.
            joined = await Owner.Join(Id, State.Spec!, State.ApiKey, State.MaxUnits > 0 ? State.MaxUnits : IKeyQuotaGrain.Unlimited);
        }
        catch (Exception) when (removeOnFailure)
        {
            // Not accepted (queue full, storage down): leave no job behind, stored or listed. The index row goes behind
            // the answer; one left over lists nothing (a listing skips ids without a job).
            index.RemoveAsync(State.ApiKey, Id, State.CreatedAt).Ignore();
            await ClearAsync();
            throw;
        }

        if (joined.Outcome == CacheOutcome.Hit)
        {
            _succeeded = new Succeeded(joined.Images, Cached: true, joined.CompletedAt ?? State.CreatedAt, null);
        }

        return Snapshot(joined.QueuePosition);
    }

    /// <summary>The job as its inference stands; what the owner says also settles a job that missed its outcome.</summary>
    private async Task<JobSnapshot> FollowAsync(InferenceStatus inference)
    {
        switch (inference.Status)
        {
            case CacheEntryStatus.Done:
                // A result completed before this job was created answered it from the cache.
                var completedAt = inference.Current.CompletedAt ?? State.CreatedAt;
                _succeeded = new Succeeded(inference.Current.Images, completedAt <= State.CreatedAt, completedAt, inference.Current.Silo);
                return Snapshot(null);

            case CacheEntryStatus.Computing when inference.Waiting:
                return Snapshot(inference.Current);

            default:
                if (inference.LastFailedAt >= State.CreatedAt)
                {
                    await RecordFailureAsync(inference.LastError);
                    return Snapshot(null);
                }

                // Accepted, but the join never reached the owner (the caller gave up in between): join now.
                return await JoinAsync(removeOnFailure: false);
        }
    }

    private static async Task IgnoreAsync(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
            // Only a warm-up: the join that follows reports any trouble.
        }
    }

    private async Task RecordFailureAsync(string? error)
    {
        State.Status = JobStatus.Failed;
        State.Error = error ?? "The generation failed.";
        State.CompletedAt = time.GetUtcNow();
        await WriteAsync();
    }

    /// <summary>Removes a record that was never accepted.</summary>
    private async Task ClearAsync()
    {
        await Storage.ClearStateAsync(StateName, this.GetGrainId(), _record);
        _record.State = new JobState();
        _loaded = false;
    }

    private async Task LoadAsync()
    {
        if (!_loaded)
        {
            await Storage.ReadStateAsync(StateName, this.GetGrainId(), _record);
            _loaded = true;
        }
    }

    private async Task WriteAsync()
    {
        // OnOutcome interleaves with the other calls: one write at a time, so the ETag stays in step.
        await _writing.WaitAsync();
        try
        {
            await Storage.WriteStateAsync(StateName, this.GetGrainId(), _record);
        }
        finally
        {
            _writing.Release();
        }
    }

    private IResultCacheGrain Owner => GrainFactory.GetGrain<IResultCacheGrain>(State.RequestKey!);

    private JobSnapshot Snapshot(int? position) => Snapshot(null, position);

    private JobSnapshot Snapshot(InferenceEvent? live, int? position = null)
    {
        var steps = State.Spec?.StepsWithHires() ?? 0;
        var running = live is { Kind: InferenceEventKind.Started or InferenceEventKind.Progress };
        var status = _succeeded is not null ? JobStatus.Succeeded : running ? JobStatus.Running : State.Status;
        return new JobSnapshot
        {
            Id = Id,
            Status = status,
            Spec = State.Spec,
            QueuePosition = status == JobStatus.Queued ? live?.QueuePosition ?? position : null,
            Step = _succeeded is not null ? steps : live?.Step ?? 0,
            TotalSteps = _succeeded is not null ? steps : live?.TotalSteps ?? 0,
            Cached = _succeeded?.Cached ?? false,
            Images = _succeeded?.Images ?? [],
            Error = State.Error,
            CreatedAt = State.CreatedAt,
            StartedAt = _succeeded is not null ? null : live?.StartedAt,
            CompletedAt = _succeeded?.CompletedAt ?? State.CompletedAt,
            RequestKey = State.RequestKey,
            Silo = _succeeded?.Silo ?? live?.Silo,
            ApiKey = State.Status == JobStatus.None ? null : State.ApiKey,
        };
    }

    private sealed record Succeeded(IReadOnlyList<ImageRef> Images, bool Cached, DateTimeOffset CompletedAt, string? Silo);

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Debug, "Adding job {Job} to its key's list failed; retrying")]
        public static partial void IndexRetrying(ILogger logger, Exception exception, Guid job);

        [LoggerMessage(3, LogLevel.Warning, "Adding job {Job} to its key's list failed after retries: GET /v1/generations leaves it out")]
        public static partial void IndexFailed(ILogger logger, Exception exception, Guid job);

        [LoggerMessage(1, LogLevel.Warning, "The input {Input} cannot be marked for the retention sweep; it is kept until it is used again")]
        public static partial void InputMarkFailed(ILogger logger, Exception exception, string input);
    }
}
