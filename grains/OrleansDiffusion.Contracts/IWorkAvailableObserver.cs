namespace OrleansDiffusion.Contracts;

/// <summary>A silo's idle worker pump, woken by a queue partition when work arrives (instead of waiting for its next poll).</summary>
[Alias("od.IWorkAvailableObserver")]
public interface IWorkAvailableObserver : IGrainObserver
{
    /// <summary>
    /// Work arrived in <paramref name="partition"/>. Answered (not one-way) so that the partition learns of a pump it
    /// cannot reach, a silo that died, and stops waking it.
    /// </summary>
    [Alias("WorkAvailableAnswered")]
    Task WorkAvailable(string partition);
}
