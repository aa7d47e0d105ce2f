using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// The webhook of one job (keyed by the job id): it follows the job's inference, turns what happens into the events the
/// client asked for and delivers them in order, signed, retried with back-off. Its record (subscription and undelivered
/// events) is one stored row, so a delivery survives the silo that started it: the webhook outbox activates it again.
/// </summary>
[Alias("od.IWebhookGrain")]
public interface IWebhookGrain : IGrainWithGuidKey, IInferenceObserver
{
    /// <summary>Starts following an accepted job (idempotent: a second call for the same job changes nothing).</summary>
    [Alias("Follow")]
    Task Follow(WebhookSubscription subscription);

    /// <summary>From the webhook outbox: an unfinished delivery carries on here (its record is read again if need be).</summary>
    [Alias("Resume")]
    Task Resume();

    /// <summary>What is left to deliver and where this activation runs (for operators and tests).</summary>
    [Alias("GetStatus")]
    Task<WebhookStatus> GetStatus();
}

/// <summary>
/// One partition of the webhook outbox (key 0 to <c>Diffusion:Webhooks:Partitions</c> - 1). Every silo touches every
/// partition now and then; the partition lists its unfinished webhooks and resumes them, so one whose silo died goes on
/// on another.
/// </summary>
[Alias("od.IWebhookOutboxGrain")]
public interface IWebhookOutboxGrain : IGrainWithIntegerKey
{
    [OneWay, Alias("Touch")]
    Task Touch();
}

/// <summary>Where and what to deliver for one job.</summary>
[GenerateSerializer, Immutable, Alias("od.WebhookSubscription")]
public sealed record WebhookSubscription
{
    /// <summary>The receiver's absolute URL (checked by the API when the job was submitted, and again at each delivery).</summary>
    [Id(0)] public string Target { get; init; } = string.Empty;

    [Id(1)] public WebhookEvents Events { get; init; } = WebhookEvents.Terminal;

    /// <summary>The signing secret of the key that submitted the job, Standard Webhooks' <c>whsec_</c> form.</summary>
    [Id(2)] public string Secret { get; init; } = string.Empty;

    /// <summary>The scheme, host and path base the job was submitted on: the payload's image URLs are under it.</summary>
    [Id(3)] public string BaseUrl { get; init; } = string.Empty;
}

/// <summary>The events a client may ask for (<c>webhook_events</c>).</summary>
[Flags, GenerateSerializer, Alias("od.WebhookEvents")]
public enum WebhookEvents
{
    None = 0,
    Queued = 1,
    Started = 2,
    Progress = 4,
    Completed = 8,
    Failed = 16,
    Cancelled = 32,

    /// <summary>The default: how the job ended.</summary>
    Terminal = Completed | Failed | Cancelled,
}

/// <summary>A webhook at one moment.</summary>
[GenerateSerializer, Immutable, Alias("od.WebhookStatus")]
public sealed record WebhookStatus(
    [property: Id(0)] bool Following,
    [property: Id(1)] int Pending,
    [property: Id(2)] string Silo);
