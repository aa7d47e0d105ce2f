using Orleans.Concurrency;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// The unit of elasticity: a stateless worker for one model (key: the model id), activated on demand on the silo whose
/// pump leased the work (stateless workers are always local). While it lives it holds its model on this silo; when it
/// has had no work for <c>ModelUnloadAfter</c> Orleans collects it, and its deactivation releases the model, whose
/// memory is freed when no other activation or run holds it. It hands each lease to the silo's runner and returns at
/// once; the generation runs off the grain scheduler over immutable inputs.
/// </summary>
[StatelessWorker(MaxLocalWorkers)]
public sealed class InferenceWorkerGrain(InferenceRunner runner, ModelHost models) : Grain, IInferenceWorkerGrain
{
    /// <summary>An upper bound only: the silo's configured capacity limits what runs.</summary>
    public const int MaxLocalWorkers = 64;

    private IDisposable? _model;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Held, not loaded: the first run loads it, off the grain scheduler.
        _model = models.Hold(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _model?.Dispose();
        return Task.CompletedTask;
    }

    public Task Start(WorkLease lease)
    {
        runner.Start(lease);
        return Task.CompletedTask;
    }
}
