using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Quota;

/// <summary>
/// Counts the units of work (<see cref="QueueEntry.Cost"/>) an API key has in progress across the cluster: one charge per
/// inference the key started, made by the inference's owner before it queues the work and freed by it when the
/// inference ends. A full quota is checked again against the owners before it refuses: inferences that ended, and
/// charges whose inference never started (its owner died between the two calls) for a minute, free their units. Soft
/// state, in memory: it costs no storage per job, and a quota whose silo dies starts counting again from zero (it is a
/// guard against one key crowding out the others, not an account).
/// </summary>
public sealed class KeyQuotaGrain(TimeProvider time) : Grain, IKeyQuotaGrain
{
    private static readonly TimeSpan Abandoned = TimeSpan.FromMinutes(1);

    /// <summary>Inferences in progress, by request key: their units and when each was charged.</summary>
    private readonly Dictionary<string, Charge> _charges = new(StringComparer.Ordinal);
    private long _units;

    public async Task<QuotaAnswer> TryCharge(string inferenceKey, int units, int maxUnits)
    {
        if (_charges.ContainsKey(inferenceKey))
        {
            return new QuotaAnswer(QuotaDecision.Charged, _units);
        }

        if (units > maxUnits)
        {
            return new QuotaAnswer(QuotaDecision.OverQuota, _units);
        }

        if (_units + units > maxUnits)
        {
            await PruneAsync();
        }

        if (_units + units > maxUnits)
        {
            return new QuotaAnswer(QuotaDecision.Full, _units);
        }

        _charges[inferenceKey] = new Charge(units, time.GetUtcNow());
        _units += units;

        // Kept in memory while it counts work (idle collection would forget it).
        DelayDeactivation(TimeSpan.FromMinutes(30));
        return new QuotaAnswer(QuotaDecision.Charged, _units);
    }

    public Task Free(string inferenceKey)
    {
        Uncharge(inferenceKey);
        return Task.CompletedTask;
    }

    private void Uncharge(string inferenceKey)
    {
        if (_charges.Remove(inferenceKey, out var charge))
        {
            _units -= charge.Units;
        }
    }

    private async Task PruneAsync()
    {
        var now = time.GetUtcNow();
        var keys = _charges.Keys.ToList();
        var entries = await Task.WhenAll(keys.Select(key => GrainFactory.GetGrain<IResultCacheGrain>(key).GetEntry()));
        for (var i = 0; i < keys.Count; i++)
        {
            var ended = entries[i].Status == CacheEntryStatus.Done
                || (entries[i].Status == CacheEntryStatus.Empty && now - _charges[keys[i]].At > Abandoned);
            if (ended)
            {
                Uncharge(keys[i]);
            }
        }
    }

    private readonly record struct Charge(int Units, DateTimeOffset At);
}
