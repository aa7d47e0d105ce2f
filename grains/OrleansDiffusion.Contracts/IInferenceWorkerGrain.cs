namespace OrleansDiffusion.Contracts;

/// <summary>
/// A stateless worker for one model (key: the model id), activated on demand on the silo whose pump leased the work
/// (stateless workers are always local to their caller). An activation holds its model on this silo while it lives and
/// releases it when it ends <c>ModelUnloadAfter</c> after its last run ended (never while a run computes): idle
/// deactivation and model unload are one mechanism. <see cref="Start"/> returns as soon as the work is started; progress and results go to the owners.
/// </summary>
[Alias("od.IInferenceWorkerGrain")]
public interface IInferenceWorkerGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task Start(WorkLease lease);
}
