using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Keeps the webhook outbox going wherever its partitions live: while the silo is active it touches every partition
/// every <see cref="WebhookOptions.ResumeInterval"/> (one-way calls), so that a webhook whose silo left is resumed on
/// another. No reminders: a touch from any live silo is enough.
/// </summary>
public sealed partial class WebhookKeeper(
    IGrainFactory grains,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<WebhookKeeper> logger) : PeriodicSiloTask(time)
{
    private readonly WebhookOptions _options = options.Value.Webhooks;

    protected override TimeSpan Interval => _options.ResumeInterval;

    protected override async Task TickAsync(CancellationToken cancellationToken)
    {
        for (var partition = 0; partition < _options.Partitions; partition++)
        {
            try
            {
                await grains.GetGrain<IWebhookOutboxGrain>(partition).Touch();
            }
            catch (Exception e)
            {
                Log.TouchFailed(logger, e, partition); // tried again at the next interval
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Touching webhook outbox partition {Partition} failed; retrying at the next interval")]
        public static partial void TouchFailed(ILogger logger, Exception exception, int partition);
    }
}
