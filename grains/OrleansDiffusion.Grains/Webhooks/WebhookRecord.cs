using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// A job's webhook as stored, one record per job: the subscription, the stages already turned into events, and the
/// events not yet delivered, oldest first. It stays small whatever happens: each stage becomes at most one event, and
/// progress is never stored (see <see cref="WebhookGrain"/>).
/// </summary>
public sealed class WebhookRecord
{
    public Guid Job { get; set; }

    public WebhookSubscription Subscription { get; set; } = new();

    /// <summary>The stages (queued, started, the outcome) already seen, whether or not the client asked for them.</summary>
    public WebhookEvents Seen { get; set; }

    public List<WebhookMessage> Pending { get; set; } = [];

    /// <summary>The outbox partition of a job: spread by the job id's first byte, which is random.</summary>
    public static int PartitionOf(Guid job, int partitions) => job.ToByteArray()[0] % partitions;
}

/// <summary>One event to deliver: its id (the same at every attempt, so receivers can drop a repeat), its body and its attempts.</summary>
public sealed class WebhookMessage
{
    public string Id { get; set; } = string.Empty;

    public WebhookEvents Event { get; set; }

    public string Body { get; set; } = string.Empty;

    public int Attempts { get; set; }

    public DateTimeOffset NextAttemptAt { get; set; }
}
