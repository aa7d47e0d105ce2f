using Orleans.Concurrency;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Stateless worker: activated on demand on the silo whose pump leased the work (stateless workers are always local),
/// collected after <c>WorkerIdleTimeout</c> without work. It hands the lease to the silo's runner and returns at once;
/// the generation runs off the grain scheduler over immutable inputs.
/// </summary>
[StatelessWorker(MaxLocalWorkers)]
public sealed class InferenceWorkerGrain(InferenceRunner runner) : Grain, IInferenceWorkerGrain
{
    /// <summary>An upper bound only: the silo's configured capacity limits what runs.</summary>
    public const int MaxLocalWorkers = 64;

    public Task Start(WorkLease lease)
    {
        runner.Start(lease);
        return Task.CompletedTask;
    }
}
