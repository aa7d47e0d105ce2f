namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// SDXL's micro-conditioning, the UNet's <c>time_ids</c>: the size the training image had before it was resized, the
/// top-left corner of the crop taken from it, and the size generated, in pixels. diffusers' defaults (what
/// <see cref="Default"/> gives) say "an uncropped image of exactly this size"; a smaller original size tends to look
/// upscaled, a crop to cut the subject.
/// </summary>
public sealed record SizeConditioning(int OriginalHeight, int OriginalWidth, int CropTop, int CropLeft, int TargetHeight, int TargetWidth)
{
    /// <summary>The largest size or crop coordinate a request may give.</summary>
    public const int MaxValue = 8192;

    /// <summary>diffusers' defaults for a <paramref name="width"/> x <paramref name="height"/> image: both sizes that size, no crop.</summary>
    public static SizeConditioning Default(int width, int height) => new(height, width, 0, 0, height, width);

    /// <summary>The six <c>time_ids</c> in diffusers' order: original (height, width), crop (top, left), target (height, width).</summary>
    public float[] ToTimeIds() => [OriginalHeight, OriginalWidth, CropTop, CropLeft, TargetHeight, TargetWidth];

    /// <summary>What is out of bounds; null when every value is (sizes 1 to 8192, crop 0 to 8192).</summary>
    public string? Problem()
    {
        int[] sizes = [OriginalHeight, OriginalWidth, TargetHeight, TargetWidth];
        if (sizes.Any(s => s is < 1 or > MaxValue))
        {
            return $"original and target sizes must be between 1 and {MaxValue} pixels";
        }

        return CropTop is < 0 or > MaxValue || CropLeft is < 0 or > MaxValue
            ? $"crop coordinates must be between 0 and {MaxValue} pixels"
            : null;
    }
}
