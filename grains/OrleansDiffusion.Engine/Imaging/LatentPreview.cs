namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// One-off latent previews and their data URLs. A denoising loop that previews every few steps should hold a
/// <see cref="LatentPreviewRenderer"/> instead, which allocates its buffers once.
/// </summary>
public static class LatentPreview
{
    /// <summary>Renders one image's SD 1.x latents ([4, h, w], planar) with A1111's "Approx cheap" map.</summary>
    /// <param name="scale">Nearest-neighbour upscale factor, 1 (latent resolution) to 8.</param>
    public static byte[] Render(
        ReadOnlySpan<float> latents, int latentWidth, int latentHeight, PreviewFormat format = PreviewFormat.Jpeg, int scale = 1)
    {
        using var renderer = new LatentPreviewRenderer(latentWidth, latentHeight, format, scale);
        return renderer.Render(latents);
    }

    /// <summary>The media type of <paramref name="format"/>: image/jpeg or image/png.</summary>
    public static string MediaType(PreviewFormat format) => format switch
    {
        PreviewFormat.Jpeg => "image/jpeg",
        PreviewFormat.Png => "image/png",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown preview format."),
    };

    /// <summary><c>data:image/jpeg;base64,...</c> (or png), ready for an <c>img src</c>.</summary>
    public static string ToDataUrl(byte[] bytes, PreviewFormat format)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return $"data:{MediaType(format)};base64,{Convert.ToBase64String(bytes)}";
    }
}
