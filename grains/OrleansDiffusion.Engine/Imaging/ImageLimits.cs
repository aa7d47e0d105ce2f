namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Bounds on an untrusted input image, checked before any pixel is decoded: the encoded size first, then the
/// dimensions the header declares. Together they keep a small upload from claiming gigabytes once decoded.
/// </summary>
public sealed record ImageLimits
{
    /// <summary>The defaults: 20 MiB encoded, 4096 x 4096 pixels, 8192 on either side.</summary>
    public static ImageLimits Default { get; } = new();

    /// <summary>Largest encoded size accepted, in bytes. Default 20 MiB.</summary>
    public long MaxBytes { get; init; } = 20L * 1024 * 1024;

    /// <summary>Largest declared width times height. Default 4096 * 4096 (16.7 megapixels).</summary>
    public long MaxPixels { get; init; } = 4096L * 4096;

    /// <summary>Largest declared width or height. Default 8192, so long thin strips stay bounded too.</summary>
    public int MaxSide { get; init; } = 8192;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPixels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxSide);
    }
}
