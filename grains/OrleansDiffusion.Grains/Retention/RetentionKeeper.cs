using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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
    ILogger<RetentionKeeper> logger) : PeriodicSiloTask(time)
{
    private readonly RetentionOptions _options = options.Value.Retention;

    /// <summary>At most a minute, and no longer than the sweep interval.</summary>
    public TimeSpan TouchInterval => _options.SweepInterval < TimeSpan.FromMinutes(1) ? _options.SweepInterval : TimeSpan.FromMinutes(1);

    protected override TimeSpan Interval => TouchInterval;

    protected override bool Enabled => _options.ExpiresAnything;

    protected override async Task TickAsync(CancellationToken cancellationToken)
    {
        try
        {
            await grains.GetGrain<IRetentionReaperGrain>(IRetentionReaperGrain.DefaultKey).Touch();
        }
        catch (Exception e)
        {
            Log.TouchFailed(logger, e); // tried again at the next interval
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Touching the retention reaper failed; retrying at the next interval")]
        public static partial void TouchFailed(ILogger logger, Exception exception);
    }
}
