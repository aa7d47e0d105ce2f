namespace OrleansDiffusion.Api.RunPod;

/// <summary>The RunPod-shaped endpoint (section <see cref="SectionName"/>).</summary>
public sealed class RunPodOptions
{
    public const string SectionName = "Diffusion:RunPod";

    /// <summary>
    /// The path before <c>/{endpoint_id}/run</c> and the other operations, RunPod's <c>https://api.runpod.ai/v2</c> without
    /// its host: a client points its base URL at <c>http://host:8080/runpod/v2</c>. Starts with '/', no trailing '/'.
    /// Default: <c>/runpod/v2</c>.
    /// </summary>
    public string Prefix { get; set; } = "/runpod/v2";
}
