using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// Keeps the <see cref="RetentionReaperGrain"/> active wherever it lives: while the silo is active it touches the
/// reaper every <see cref="TouchInterval"/> (a one-way call), so that a reaper whose silo left is activated again on
/// another. Nothing runs when every kind is kept for ever.
/// </summary>
public sealed partial class RetentionKeeper(
    IGrainFactory grains,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<RetentionKeeper> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly RetentionOptions _options = options.Value.Retention;
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    /// <summary>At most a minute, and no longer than the sweep interval.</summary>
    public TimeSpan TouchInterval => _options.SweepInterval < TimeSpan.FromMinutes(1) ? _options.SweepInterval : TimeSpan.FromMinutes(1);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RetentionKeeper), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.ExpiresAnything)
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
                await grains.GetGrain<IRetentionReaperGrain>(IRetentionReaperGrain.DefaultKey).Touch();
            }
            catch (Exception e)
            {
                Log.TouchFailed(logger, e); // tried again at the next interval
            }

            try
            {
                await Task.Delay(TouchInterval, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Touching the retention reaper failed; retrying at the next interval")]
        public static partial void TouchFailed(ILogger logger, Exception exception);
    }
}
