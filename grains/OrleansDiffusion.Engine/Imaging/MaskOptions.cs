namespace OrleansDiffusion.Engine.Imaging;

/// <summary>How <see cref="MaskLoader"/> reads and prepares an uploaded mask.</summary>
public sealed record MaskOptions
{
    /// <summary>The largest blur accepted, in pixels (AUTOMATIC1111's slider ends there too).</summary>
    public const int MaxBlur = 64;

    /// <summary>How the upload marks what to repaint. Default: <see cref="MaskConvention.WhiteRepaints"/>.</summary>
    public MaskConvention Convention { get; init; } = MaskConvention.WhiteRepaints;

    /// <summary>Repaint what the mask keeps and keep what it repaints (A1111's <c>inpainting_mask_invert</c>). Default: false.</summary>
    public bool Invert { get; init; }

    /// <summary>Gaussian blur across, in pixels of the generation (A1111's <c>mask_blur_x</c>). Default: 0.</summary>
    public int BlurX { get; init; }

    /// <summary>Gaussian blur down, in pixels of the generation (A1111's <c>mask_blur_y</c>). Default: 0.</summary>
    public int BlurY { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(BlurX);
        ArgumentOutOfRangeException.ThrowIfNegative(BlurY);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BlurX, MaxBlur);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BlurY, MaxBlur);
    }
}
