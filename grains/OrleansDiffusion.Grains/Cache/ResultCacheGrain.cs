using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Cache;

/// <summary>
/// One result, keyed by its request key: identical requests anywhere in the cluster join one inference, and a
/// finished result answers later identical requests from storage. Progress fans out to every waiting job.
/// </summary>
public sealed class ResultCacheGrain(
    [PersistentState("result", StorageNames.Cache)] IPersistentState<CacheState> state,
    DiffusionMetrics metrics,
    TimeProvider time) : Grain, IResultCacheGrain
{
    // 0.5 + 1 + 2 + 4 + 8 s between six attempts: about as long as a dead silo takes to be declared dead.
    private const int NotifyAttempts = 6;

    private IWorkQueueGrain Queue => GrainFactory.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);

    private string Key => this.GetPrimaryKeyString();

    public async Task<CacheJoinResult> Join(Guid jobId, GenerationSpec spec, string apiKey)
    {
        switch (state.State.Status)
        {
            case CacheEntryStatus.Done:
                metrics.CacheHit();
                return new CacheJoinResult(CacheOutcome.Hit, state.State.Images, null);

            case CacheEntryStatus.Computing:
                var joined = !state.State.Waiters.Contains(jobId);
                if (joined)
                {
                    state.State.Waiters.Add(jobId);
                    await WriteAsync();
                    metrics.DedupJoin();
                }

                // Idempotent: puts the work back when the queue lost it (the job watchdog calls Join again).
                var position = await Queue.Enqueue(WorkItemOf(state.State.Spec!, state.State.ApiKey));
                return new CacheJoinResult(joined ? CacheOutcome.Joined : CacheOutcome.Started, [], position);

            default:
                state.State.Status = CacheEntryStatus.Computing;
                state.State.Waiters = [jobId];
                state.State.Spec = spec;
                state.State.ApiKey = apiKey;
                state.State.ComputingSince = time.GetUtcNow();
                await WriteAsync();
                try
                {
                    var queued = await Queue.Enqueue(WorkItemOf(spec, apiKey));
                    return new CacheJoinResult(CacheOutcome.Started, [], queued);
                }
                catch (QueueFullException)
                {
                    state.State.Status = CacheEntryStatus.Empty;
                    state.State.Waiters = [];
                    await WriteAsync();
                    throw;
                }
        }
    }

    public async Task Leave(Guid jobId)
    {
        if (!state.State.Waiters.Remove(jobId))
        {
            return;
        }

        if (state.State.Waiters.Count == 0 && state.State.Status == CacheEntryStatus.Computing)
        {
            // Nobody wants this result any more: drop the work; a running worker stops at its next progress report.
            state.State.Status = CacheEntryStatus.Empty;
            await WriteAsync();
            await Queue.Cancel(Key);
            return;
        }

        await WriteAsync();
    }

    public async Task<bool> ReportStarted(string silo)
    {
        if (state.State.Status != CacheEntryStatus.Computing || state.State.Waiters.Count == 0)
        {
            return false;
        }

        var now = time.GetUtcNow();
        await Task.WhenAll(state.State.Waiters.Select(id => GrainFactory.GetGrain<IGenerationJobGrain>(id).OnStarted(silo, now)));
        return true;
    }

    public async Task<bool> ReportProgress(int step, int totalSteps, double elapsedSeconds, byte[]? preview)
    {
        if (state.State.Status != CacheEntryStatus.Computing || state.State.Waiters.Count == 0)
        {
            return false;
        }

        // Awaited, so that each job sees the steps in order (one-way messages may overtake each other); the worker
        // chains its reports without waiting on them, so a slow job grain never slows the engine.
        try
        {
            await Task.WhenAll(state.State.Waiters.Select(id => GrainFactory.GetGrain<IGenerationJobGrain>(id).OnProgress(step, totalSteps, elapsedSeconds, preview)));
        }
        catch (Exception)
        {
            // A lost live update; the outcome is delivered separately.
        }

        return true;
    }

    public async Task ReportCompleted(IReadOnlyList<ImageRef> images, string silo)
    {
        if (state.State.Status == CacheEntryStatus.Done)
        {
            return; // a requeued duplicate finished too; the first result stands
        }

        var waiters = state.State.Waiters;
        state.State.Status = CacheEntryStatus.Done;
        state.State.Images = [.. images];
        state.State.Waiters = [];
        state.State.Inferences++;
        state.State.ComputingSince = null;
        await WriteAsync();

        // Not awaited: the worker's report returns once the result is stored; telling the jobs may take retries
        // while a job grain moves off a dead silo (the job's watchdog covers what still fails).
        _ = NotifyAsync(waiters, job => job.OnCompleted(images, false, silo));
    }

    public async Task ReportFailed(string error)
    {
        if (state.State.Status != CacheEntryStatus.Computing)
        {
            return;
        }

        // Not cached: an identical request later tries again.
        var waiters = state.State.Waiters;
        state.State.Status = CacheEntryStatus.Empty;
        state.State.Waiters = [];
        state.State.ComputingSince = null;
        await WriteAsync();
        _ = NotifyAsync(waiters, job => job.OnFailed(error));
    }

    public Task<CacheEntry> GetEntry() =>
        Task.FromResult(new CacheEntry(state.State.Status, state.State.Images, state.State.Waiters.Count, state.State.Inferences));

    /// <summary>
    /// Tells every waiting job the outcome. A job grain whose silo just died is reactivated elsewhere on a retry; one
    /// that still cannot be told learns the outcome from its watchdog's re-join.
    /// </summary>
    private Task NotifyAsync(IEnumerable<Guid> jobs, Func<IGenerationJobGrain, Task> notify) =>
        Task.WhenAll(jobs.Select(async id =>
        {
            var job = GrainFactory.GetGrain<IGenerationJobGrain>(id);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await notify(job);
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
        }));

    private WorkItem WorkItemOf(GenerationSpec spec, string apiKey) => new(Key, spec, apiKey, state.State.ComputingSince ?? time.GetUtcNow());

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }
}
