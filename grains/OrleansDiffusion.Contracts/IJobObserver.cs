using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>Receives every transition and step of a job.</summary>
public interface IJobObserver : IGrainObserver
{
    [OneWay]
    Task OnJobEvent(JobEvent jobEvent);
}
