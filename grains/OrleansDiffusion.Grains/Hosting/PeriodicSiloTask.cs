using Orleans.Runtime;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>
/// Work a silo does every <see cref="Interval"/> while it is active (from the <see cref="ServiceLifecycleStage.Active"/>
/// stage until the silo stops), on its own loop: a failed tick is the derived class's to log, and the next runs at the
/// next interval. Nothing runs when <see cref="Enabled"/> is false.
/// </summary>
public abstract class PeriodicSiloTask(TimeProvider time) : ILifecycleParticipant<ISiloLifecycle>
{
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    /// <summary>The time between the end of a tick and the start of the next.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>Whether the silo runs the task at all (read once, at start).</summary>
    protected virtual bool Enabled => true;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(GetType().Name, ServiceLifecycleStage.Active, StartAsync, StopAsync);

    /// <summary>One round of the work; exceptions are caught and ignored by the loop, so log them here.</summary>
    protected abstract Task TickAsync(CancellationToken cancellationToken);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            _stopping = new CancellationTokenSource();
            _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _loop!;
        _stopping.Dispose();
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await TickAsync(cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The derived class logs what it expects to fail; the next tick comes at the next interval.
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(Interval, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
