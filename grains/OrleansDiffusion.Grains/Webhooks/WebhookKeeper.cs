using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
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
    ILogger<WebhookKeeper> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly WebhookOptions _options = options.Value.Webhooks;
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WebhookKeeper), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = new CancellationTokenSource();
        _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
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

            try
            {
                await Task.Delay(_options.ResumeInterval, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Touching webhook outbox partition {Partition} failed; retrying at the next interval")]
        public static partial void TouchFailed(ILogger logger, Exception exception, int partition);
    }
}
