using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// One partition of the webhook outbox. Touched by every silo (<see cref="WebhookKeeper"/>), it lists its unfinished
/// webhooks at most once per half <see cref="WebhookOptions.ResumeInterval"/> and resumes each: a webhook whose silo
/// died is activated again on a live one, and a live one only renews its watch. Reading the list is its only cost;
/// it writes nothing.
/// </summary>
public sealed partial class WebhookOutboxGrain(
    IWebhookStore store,
    IOptions<DiffusionOptions> options,
    TimeProvider time,
    ILogger<WebhookOutboxGrain> logger) : Grain, IWebhookOutboxGrain
{
    private readonly WebhookOptions _options = options.Value.Webhooks;
    private long _listedAt;

    public async Task Touch()
    {
        if (_listedAt != 0 && time.GetElapsedTime(_listedAt) < _options.ResumeInterval / 2)
        {
            return;
        }

        _listedAt = time.GetTimestamp();
        var partition = (int)this.GetPrimaryKeyLong();
        try
        {
            foreach (var job in await store.ListAsync(partition, CancellationToken.None))
            {
                GrainFactory.GetGrain<IWebhookGrain>(job).Resume().Ignore();
            }
        }
        catch (Exception e)
        {
            _listedAt = 0; // listed again at the next touch
            Log.ListFailed(logger, e, partition);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Webhook outbox partition {Partition} could not be listed; retrying at the next touch")]
        public static partial void ListFailed(ILogger logger, Exception exception, int partition);
    }
}
