using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// Runs the retention sweep every <see cref="RetentionOptions.SweepInterval"/> from one activation in the cluster (a
/// timer, no reminder: the <see cref="RetentionKeeper"/> of every silo touches it, so it comes back soon after its silo
/// leaves). A timer's ticks never overlap, so one activation sweeps once at a time; should a second activation live for
/// a moment (a partitioned cluster), its sweep repeats the first one's work harmlessly.
/// </summary>
public sealed partial class RetentionReaperGrain(
    RetentionSweeper sweeper,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<RetentionReaperGrain> logger) : Grain, IRetentionReaperGrain
{
    private readonly RetentionOptions _options = options.Value.Retention;
    private RetentionSweepReport? _last;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (_options.ExpiresAnything)
        {
            this.RegisterGrainTimer(SweepAsync, new GrainTimerCreationOptions(_options.SweepInterval, _options.SweepInterval) { KeepAlive = true });
        }

        return Task.CompletedTask;
    }

    public Task Touch() => Task.CompletedTask;

    public Task<RetentionSweepReport?> GetLastSweep() => Task.FromResult(_last);

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        try
        {
            _last = await sweeper.SweepAsync(time.GetUtcNow(), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Storage unreachable: the marks stay, and the next tick starts over.
            Log.SweepFailed(logger, e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Retention sweep failed; it runs again at the next interval")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
