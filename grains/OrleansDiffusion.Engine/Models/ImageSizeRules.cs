using System.Globalization;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// The image sizes a model can generate, and the one it generates when a request names none.
/// </summary>
/// <param name="DefaultWidth">The model's own size: its UNet config's <c>sample_size</c> x 8, else its family's.</param>
/// <param name="DefaultHeight">See <paramref name="DefaultWidth"/>.</param>
/// <param name="Multiple">
/// Every side is a multiple of this: 8 (one latent pixel) times 2 for each downsampling of the UNet, whose exported graph
/// upsamples by exact doubling and cannot restore an odd size (64 for SD 1.x/2.x UNets, 32 for SDXL's; 8 where the UNet
/// config does not say how deep it is, as before).
/// </param>
/// <param name="MinSide">The smallest side.</param>
/// <param name="MaxSide">The largest side.</param>
/// <param name="MaxPixels">The largest width x height.</param>
public sealed record ImageSizeRules(int DefaultWidth, int DefaultHeight, int Multiple, int MinSide, int MaxSide, int MaxPixels)
{
    /// <summary>What is wrong with <paramref name="width"/> x <paramref name="height"/>; null when the model can generate it.</summary>
    public string? Problem(int width, int height)
    {
        if (width < MinSide || height < MinSide || width > MaxSide || height > MaxSide)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{width}x{height} is outside {MinSide} to {MaxSide} pixels a side");
        }

        if (width % Multiple != 0 || height % Multiple != 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{width}x{height} has a side that is not a multiple of {Multiple}");
        }

        if ((long)width * height > MaxPixels)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{width}x{height} is more than {MaxPixels} pixels");
        }

        return null;
    }
}
