namespace OrleansDiffusion.Api.Scaling;

/// <summary>The KEDA external scaler endpoint (section <see cref="SectionName"/>).</summary>
public sealed class ScalerOptions
{
    public const string SectionName = "Diffusion:Scaler";

    /// <summary>
    /// Where the gRPC scaler listens, cleartext HTTP/2 (h2c), for example <c>http://0.0.0.0:8082</c>. Default: none
    /// (not served). It has no authentication: expose it inside the cluster only, to KEDA.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>How often StreamIsActive looks at the signal (it sends only changes). Default: 1 second.</summary>
    public TimeSpan StreamInterval { get; set; } = TimeSpan.FromSeconds(1);
}
