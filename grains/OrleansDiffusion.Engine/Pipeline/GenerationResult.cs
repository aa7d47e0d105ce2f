namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>The images of one job and where its time went.</summary>
public sealed record GenerationResult(IReadOnlyList<GeneratedImage> Images, StageTimings Timings);

/// <summary>One PNG with its AUTOMATIC1111-style <c>parameters</c> text chunk.</summary>
public sealed record GeneratedImage(byte[] Png, long Seed, int Width, int Height, string Infotext);

/// <summary>Wall time per pipeline stage.</summary>
public sealed record StageTimings(TimeSpan TextEncoder, TimeSpan ImageEncoder, TimeSpan Denoising, int DenoisingSteps, TimeSpan VaeDecoder, TimeSpan PngEncoding)
{
    public TimeSpan Total => TextEncoder + ImageEncoder + Denoising + VaeDecoder + PngEncoding;
}
