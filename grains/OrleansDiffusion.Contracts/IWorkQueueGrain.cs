namespace OrleansDiffusion.Contracts;

/// <summary>
/// The work queue as a whole (one activation, key <see cref="DefaultKey"/>): counts over its partitions and the
/// autoscaling signal. No job passes through it: it asks the partitions for their counts every second.
/// </summary>
[Alias("od.IWorkQueueGrain")]
public interface IWorkQueueGrain : IGrainWithStringKey
{
    public const string DefaultKey = "default";

    [Alias("GetStats")]
    Task<QueueStats> GetStats();

    /// <summary>The number of inference silos the cluster wants now (the autoscaling signal).</summary>
    [Alias("GetScaleSignal")]
    Task<ScaleSignal> GetScaleSignal();

    /// <summary>Called by the worker pumps now and then, so that the gauges and the signal are kept wherever the overview lives.</summary>
    [Alias("Touch"), Orleans.Concurrency.OneWay]
    Task Touch();
}
