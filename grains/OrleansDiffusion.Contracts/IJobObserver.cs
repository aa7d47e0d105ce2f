using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// Receives every transition and step of a job. Notifications are one-way messages and may arrive out of order: each
/// carries the job's snapshot (status, step) so that a consumer can order them and drop stale ones.
/// </summary>
public interface IJobObserver : IGrainObserver
{
    [OneWay]
    Task OnJobEvent(JobEvent jobEvent);
}
