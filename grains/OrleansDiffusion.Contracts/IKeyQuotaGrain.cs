namespace OrleansDiffusion.Contracts;

/// <summary>
/// One API key's unfinished jobs, cluster-wide (key: the API key's name), so that a concurrent-job quota holds however
/// many API processes accept work for the key.
/// </summary>
[Alias("od.IKeyQuotaGrain")]
public interface IKeyQuotaGrain : IGrainWithStringKey
{
    /// <summary>
    /// Reserves a place for <paramref name="jobId"/> (idempotent); false when the key already has
    /// <paramref name="max"/> unfinished jobs. Finished jobs free their place by themselves.
    /// </summary>
    [Alias("TryAcquire")]
    Task<bool> TryAcquire(Guid jobId, int max);

    /// <summary>Frees the place of a job that finished at once (a cache hit) or was never accepted.</summary>
    [Alias("Release")]
    Task Release(Guid jobId);
}
