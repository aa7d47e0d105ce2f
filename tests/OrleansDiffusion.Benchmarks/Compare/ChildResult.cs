namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>What one child process measured, sent to the parent as one JSON line on stdout.</summary>
public sealed record ChildResult(
    string Contestant,
    bool Png,
    string Provider,
    double LoadMs,
    int WarmupImages,
    double MsPerImage,
    double MsPerStep,
    double TextMs,
    double DenoiseMs,
    double DecodeMs,
    double AllocatedMiBPerImage,
    double Gen0PerImage,
    double Gen1PerImage,
    double Gen2PerImage,
    double RssMiB,
    double PeakRssMiB)
{
    /// <summary>The line prefix the parent looks for in a child's output.</summary>
    public const string Marker = "compare-result ";
}
