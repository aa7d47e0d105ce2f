using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>A silo's idle worker pump, woken by a queue partition when work arrives (instead of waiting for its next poll).</summary>
[Alias("od.IWorkAvailableObserver")]
public interface IWorkAvailableObserver : IGrainObserver
{
    [OneWay, Alias("WorkAvailable")]
    void WorkAvailable(string partition);
}
