using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// The unit of elasticity: a stateless worker for one model (key: the model id), activated on demand on the silo whose
/// pump leased the work (stateless workers are always local). While it lives it holds its model on this silo; its
/// deactivation releases the model, whose memory is freed when no other activation or run holds it. It hands each lease
/// to the silo's runner and returns at once; the generation runs off the grain scheduler over immutable inputs.
/// A run gets no grain calls while it computes, so the activation keeps itself alive while any of its runs does (a job
/// of minutes must not unload its model and load it again for the next job); <c>ModelUnloadAfter</c> counts from the
/// end of its last run.
/// </summary>
[StatelessWorker(MaxLocalWorkers)]
public sealed class InferenceWorkerGrain(InferenceRunner runner, ModelHost models, IOptions<DiffusionOptions> options) : Grain, IInferenceWorkerGrain
{
    /// <summary>An upper bound only: the silo's configured capacity limits what runs.</summary>
    public const int MaxLocalWorkers = 64;

    private readonly TimeSpan _unloadAfter = options.Value.ModelUnloadAfter;
    private IDisposable? _model;
    private IGrainTimer? _idle;
    private int _running;
    private bool _deactivating;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Held, not loaded: the first run loads it, off the grain scheduler.
        _model = models.Hold(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A stopping silo ends its activations while their runs drain; those runs hold the model themselves.
        _deactivating = true;
        _idle?.Dispose();
        _model?.Dispose();
        return Task.CompletedTask;
    }

    public Task Start(WorkLease lease)
    {
        _idle?.Dispose();
        _idle = null;
        _running++;
        DelayDeactivation(TimeSpan.MaxValue);
        _ = WhenEndedAsync(runner.Start(lease));
        return Task.CompletedTask;
    }

    /// <summary>Back on this activation once a run has ended: the last one starts the idle countdown.</summary>
    private async Task WhenEndedAsync(Task run)
    {
        await run.ContinueWith(static _ => { }, TaskScheduler.Default);
        if (--_running > 0 || _deactivating)
        {
            return;
        }

        // Collection counts idleness from the last call, which came when the run started: keep the activation for a
        // whole ModelUnloadAfter from now, and end it then rather than at the collector's next pass.
        DelayDeactivation(_unloadAfter);
        _idle = this.RegisterGrainTimer(
            _ =>
            {
                DeactivateOnIdle();
                return Task.CompletedTask;
            },
            new GrainTimerCreationOptions { DueTime = _unloadAfter, Period = Timeout.InfiniteTimeSpan });
    }
}
