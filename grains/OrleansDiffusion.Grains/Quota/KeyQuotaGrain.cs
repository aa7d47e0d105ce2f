using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Quota;

/// <summary>
/// Counts an API key's unfinished jobs across the cluster. A full quota is checked again against the jobs themselves
/// before it refuses: jobs that finished, and reservations whose job never arrived (the API process died between the
/// two calls) for a minute, free their places. Soft state, in memory: it costs no storage per job, and a quota whose
/// silo dies starts counting again from zero (it is a guard against one key crowding out the others, not an account).
/// </summary>
public sealed class KeyQuotaGrain(TimeProvider time) : Grain, IKeyQuotaGrain
{
    private static readonly TimeSpan Abandoned = TimeSpan.FromMinutes(1);

    /// <summary>Unfinished jobs and when each was admitted; at most the key's limit.</summary>
    private readonly Dictionary<Guid, DateTimeOffset> _active = [];

    public async Task<bool> TryAcquire(Guid jobId, int max)
    {
        if (_active.ContainsKey(jobId))
        {
            return true;
        }

        if (_active.Count >= max)
        {
            await PruneAsync();
        }

        if (_active.Count >= max)
        {
            return false;
        }

        _active[jobId] = time.GetUtcNow();

        // Kept in memory while it counts jobs (idle collection would forget them).
        DelayDeactivation(TimeSpan.FromMinutes(30));
        return true;
    }

    public Task Release(Guid jobId)
    {
        _active.Remove(jobId);
        return Task.CompletedTask;
    }

    private async Task PruneAsync()
    {
        var now = time.GetUtcNow();
        var ids = _active.Keys.ToList();
        var snapshots = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IGenerationJobGrain>(id).GetSnapshot()));
        for (var i = 0; i < ids.Count; i++)
        {
            if (snapshots[i].IsTerminal || (snapshots[i].Status == JobStatus.None && now - _active[ids[i]] > Abandoned))
            {
                _active.Remove(ids[i]);
            }
        }
    }
}
