namespace OrleansDiffusion.Contracts;

/// <summary>
/// A stateless worker that runs leased work on the silo it is activated on (stateless workers are always local to
/// their caller: each silo's worker pump calls its own). <see cref="Start"/> returns as soon as the work is started;
/// progress and results go to the result cache grains.
/// </summary>
[Alias("od.IInferenceWorkerGrain")]
public interface IInferenceWorkerGrain : IGrainWithIntegerKey
{
    [Alias("Start")]
    Task Start(WorkLease lease);
}
