using System.ComponentModel.DataAnnotations;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// How job webhooks are delivered (section <c>Diffusion:Webhooks</c>, read by the API when a job is submitted and by
/// the silos that deliver; set it alike on both). The signing secrets belong to the API keys
/// (<c>Diffusion:Api:Keys:N:WebhookSecret</c>) and, with no key configured, to <see cref="AnonymousSecret"/>.
/// </summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Diffusion:Webhooks";

    /// <summary>
    /// Lets webhooks reach loopback, private (RFC 1918, unique local, CGNAT) and link-local addresses. Off by default, so
    /// that a client cannot make the cluster call into its own network; checked when the job is submitted and again
    /// at every delivery, after DNS resolution. Default: false.
    /// </summary>
    public bool AllowPrivateTargets { get; set; }

    /// <summary>Accepts <c>http://</c> targets as well as <c>https://</c>. Default: false.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// The signing secret (<c>whsec_</c> and base64 of 24 to 64 random bytes, Standard Webhooks' form) of the anonymous
    /// user when no API key is configured; without it the anonymous user's webhooks are refused. Default: none.
    /// </summary>
    [RegularExpression(WebhookSignature.SecretPattern)]
    public string? AnonymousSecret { get; set; }

    /// <summary>How long one delivery may take, connecting included. Default: 5 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the first retry of a failed delivery; each further retry waits twice as long. Default: 5 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait between two attempts. Default: 10 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Attempts per event before it is given up (logged, counted in <c>diffusion_webhook_deliveries</c> as
    /// <c>abandoned</c>); with the default delays the last attempt comes about an hour after the event. Default: 12.
    /// </summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 12;

    /// <summary>
    /// How often every silo touches the webhook outbox, whose partitions then resume the unfinished webhooks whose silo
    /// died: the longest a delivery waits after losing its silo (besides the cluster noticing it). Default: 30 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ResumeInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Outbox partitions: each lists its own unfinished webhooks. Default: 4.</summary>
    [Range(1, 256)]
    public int Partitions { get; set; } = 4;
}
