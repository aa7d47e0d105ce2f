namespace OrleansDiffusion.Contracts;

/// <summary>
/// The cluster's job-id key (one grain, key 0): the secret with which API processes sign the job ids they hand out and
/// recognise them before they call any job grain. It lives in the cluster so that every API process, co-hosted or a
/// gateway client, one or many replicas, uses the same key without any configuration.
/// </summary>
[Alias("od.IJobIdKeyGrain")]
public interface IJobIdKeyGrain : IGrainWithIntegerKey
{
    /// <summary>The key (32 bytes), made at first use and kept in the jobs' storage.</summary>
    [Alias("GetKey")]
    Task<byte[]> GetKey();
}
