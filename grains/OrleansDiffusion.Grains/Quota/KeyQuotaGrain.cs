using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Quota;

/// <summary>
/// Counts an API key's unfinished jobs across the cluster. A full quota is checked again against the jobs themselves
/// before it refuses: jobs that finished, and reservations whose job never arrived (the API process died between the
/// two calls) for a minute, free their places. Persisted, so a quota survives the grain moving.
/// </summary>
public sealed class KeyQuotaGrain(
    [PersistentState("quota", StorageNames.Jobs)] IPersistentState<KeyQuotaState> state,
    TimeProvider time) : Grain, IKeyQuotaGrain
{
    private static readonly TimeSpan Abandoned = TimeSpan.FromMinutes(1);

    public async Task<bool> TryAcquire(Guid jobId, int max)
    {
        if (state.State.Active.ContainsKey(jobId))
        {
            return true;
        }

        if (state.State.Active.Count >= max)
        {
            await PruneAsync();
        }

        if (state.State.Active.Count >= max)
        {
            return false;
        }

        state.State.Active[jobId] = time.GetUtcNow();
        await state.WriteStateAsync();
        return true;
    }

    public async Task Release(Guid jobId)
    {
        if (state.State.Active.Remove(jobId))
        {
            await state.WriteStateAsync();
        }
    }

    private async Task PruneAsync()
    {
        var now = time.GetUtcNow();
        var ids = state.State.Active.Keys.ToList();
        var snapshots = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IGenerationJobGrain>(id).GetSnapshot()));
        var removed = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            var finished = snapshots[i].IsTerminal || (snapshots[i].Status == JobStatus.None && now - state.State.Active[ids[i]] > Abandoned);
            if (finished && state.State.Active.Remove(ids[i]))
            {
                removed++;
            }
        }

        if (removed > 0)
        {
            await state.WriteStateAsync();
        }
    }
}

[GenerateSerializer, Alias("od.KeyQuotaState")]
public sealed class KeyQuotaState
{
    /// <summary>Unfinished jobs and when each was admitted.</summary>
    [Id(0)] public Dictionary<Guid, DateTimeOffset> Active { get; set; } = [];
}
