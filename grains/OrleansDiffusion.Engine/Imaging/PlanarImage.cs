using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using SixLabors.ImageSharp.Processing.Processors.Transforms;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Crop and resize of planar float images (<c>[channels, height, width]</c>, 1 or 3 channels) through ImageSharp's
/// float pixels, so the pipeline's images never pass through 8-bit samples on the way. Images are in [-1, 1], masks
/// in [0, 1]; a resampler's overshoot (Lanczos rings) is clamped to the range.
/// </summary>
internal static class PlanarImage
{
    /// <summary>
    /// <paramref name="region"/> of <paramref name="planes"/> (<paramref name="width"/> x <paramref name="height"/>),
    /// stretched to <paramref name="outWidth"/> x <paramref name="outHeight"/> with <paramref name="sampler"/>.
    /// </summary>
    /// <param name="signed">Values are in [-1, 1] (an image) rather than [0, 1] (a mask).</param>
    public static float[] CropResize(
        ReadOnlySpan<float> planes, int channels, int width, int height, PixelRegion region, int outWidth, int outHeight, IResampler sampler, bool signed)
    {
        if (channels is not (1 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3 channels.");
        }

        PixelMath.ValidateShape(planes.Length, channels, width, height, nameof(planes));
        var plane = width * height;
        using var image = new Image<RgbaVector>(width, height);
        for (var y = 0; y < height; y++)
        {
            var row = image.DangerousGetPixelRowMemory(y).Span;
            for (var x = 0; x < width; x++)
            {
                var p = (y * width) + x;
                var r = ToUnit(planes[p], signed);
                row[x] = channels == 1
                    ? new RgbaVector(r, r, r, 1f)
                    : new RgbaVector(r, ToUnit(planes[plane + p], signed), ToUnit(planes[(2 * plane) + p], signed), 1f);
            }
        }

        image.Mutate(context =>
        {
            if (region != new PixelRegion(0, 0, width, height))
            {
                context.Crop(new Rectangle(region.X, region.Y, region.Width, region.Height));
            }

            if (region.Width != outWidth || region.Height != outHeight)
            {
                context.Resize(new ResizeOptions { Size = new Size(outWidth, outHeight), Mode = ResizeMode.Stretch, Sampler = sampler });
            }
        });

        var outPlane = outWidth * outHeight;
        var result = new float[channels * outPlane];
        for (var y = 0; y < outHeight; y++)
        {
            var row = image.DangerousGetPixelRowMemory(y).Span;
            for (var x = 0; x < outWidth; x++)
            {
                var p = (y * outWidth) + x;
                result[p] = FromUnit(row[x].R, signed);
                if (channels == 3)
                {
                    result[outPlane + p] = FromUnit(row[x].G, signed);
                    result[(2 * outPlane) + p] = FromUnit(row[x].B, signed);
                }
            }
        }

        return result;
    }

    private static float ToUnit(float value, bool signed) => Math.Clamp(signed ? (value + 1f) * 0.5f : value, 0f, 1f);

    private static float FromUnit(float value, bool signed)
    {
        value = Math.Clamp(value, 0f, 1f);
        return signed ? (value * 2f) - 1f : value;
    }
}
