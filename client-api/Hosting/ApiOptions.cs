using System.ComponentModel.DataAnnotations;
using OrleansDiffusion.Grains.Webhooks;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>The API's own settings (section <see cref="SectionName"/>).</summary>
public sealed class ApiOptions
{
    public const string SectionName = "Diffusion:Api";

    /// <summary>
    /// <c>CoHosted</c>: this process is also a silo (the zero-config default). <c>Client</c>: it joins an existing
    /// cluster as an Orleans client (gateway), with the clustering of <c>Diffusion:Cluster</c>. Default: CoHosted.
    /// </summary>
    public ApiMode Mode { get; set; } = ApiMode.CoHosted;

    /// <summary>API keys, stored hashed. Empty: anonymous access, allowed only when the server listens on loopback.</summary>
    public List<ApiKeyEntry> Keys { get; set; } = [];

    /// <summary>
    /// Submissions (requests that create work: native, OpenAI and AUTOMATIC1111 generation requests) per minute per API
    /// key (token bucket). Default: 120.
    /// </summary>
    [Range(1, 1_000_000)]
    public int RequestsPerMinute { get; set; } = 120;

    /// <summary>
    /// Units of work one API key may have queued or running at once, counted cluster-wide; a request costs
    /// <c>n x steps x width x height / 512^2</c> units (at least 1), and only a request that starts a new inference is
    /// charged (one that joins an identical inference or is answered from the cache costs nothing). A request that alone
    /// costs more is refused (400). Default: 1200, forty 512 x 512 30-step images, or two 1024 x 1024 150-step images.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentUnitsPerKey { get; set; } = 1200;

    /// <summary>
    /// <see cref="MaxConcurrentUnitsPerKey"/> for the anonymous caller, when no key is configured and the API listens on
    /// loopback only: one local user, who gets more. Default: 9600, twice the largest request the API accepts
    /// (8 images x 150 steps at 1024 x 1024).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentUnitsAnonymous { get; set; } = 9600;

    /// <summary>
    /// Every other request per minute per API key (a token bucket of its own): reading a job's status or images,
    /// cancelling, models, settings. Reading must not spend the submit budget, and a client that polls each of its jobs
    /// every second stays well inside this. Default: 1200.
    /// </summary>
    [Range(1, 1_000_000)]
    public int ReadsPerMinute { get; set; } = 1200;

    /// <summary>
    /// The longest one call from a request to the cluster (a grain call) may take. A grain whose silo has just died is
    /// unreachable until the cluster notices, which Orleans would wait out for its 30 s response timeout; the request
    /// answers 503 with Retry-After after this instead. Default: 5 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ClusterCallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often a quiet server-sent event stream (<c>GET /v1/generations/{id}/events</c>) sends a comment, so that
    /// proxies keep it open, and reads its job once (catching up on an event lost on the way). Default: 15 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan EventStreamHeartbeat { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Largest request body in bytes. Default: 16 MiB (an init image travels as base64 inside it).</summary>
    [Range(1024, 256L << 20)]
    public long MaxRequestBodyBytes { get; set; } = 16L << 20;
}

public enum ApiMode
{
    CoHosted,
    Client,
}

/// <summary>One API key: a name for logs and quotas and the SHA-256 (hex) of the key itself.</summary>
public sealed class ApiKeyEntry
{
    [Required]
    public string Name { get; set; } = string.Empty;

    [Required, RegularExpression("^[0-9a-fA-F]{64}$")]
    public string Sha256 { get; set; } = string.Empty;

    /// <summary>An admin key sees and cancels every key's jobs. Default: false.</summary>
    public bool Admin { get; set; }

    /// <summary>
    /// The secret this key's webhooks are signed with: <c>whsec_</c> and the base64 of 24 to 64 random bytes (Standard
    /// Webhooks' form; <c>echo whsec_$(openssl rand -base64 32)</c>). Without one the key cannot ask for webhooks.
    /// Default: none.
    /// </summary>
    [RegularExpression(WebhookSignature.SecretPattern)]
    public string? WebhookSecret { get; set; }
}
