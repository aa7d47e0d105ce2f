namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// Resizes latents <c>[channels, height, width]</c> as <c>torch.nn.functional.interpolate(..., size=(h, w))</c> does,
/// which is how AUTOMATIC1111's hires fix enlarges the first pass's latents before its second pass. The source
/// coordinate of a destination index is computed from the size ratio <c>in / out</c> (PyTorch's rule when a size, not a
/// scale factor, is given).
/// </summary>
public static class LatentUpscale
{
    /// <summary>Keys' cubic convolution parameter PyTorch uses for bicubic.</summary>
    private const float CubicA = -0.75f;

    public static void Resize(ReadOnlySpan<float> source, int channels, int sourceHeight, int sourceWidth, Span<float> destination, int height, int width, LatentUpscaleMode mode)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(source.Length, channels * sourceHeight * sourceWidth, nameof(source));
        ArgumentOutOfRangeException.ThrowIfNotEqual(destination.Length, channels * height * width, nameof(destination));
        var scaleY = (float)sourceHeight / height;
        var scaleX = (float)sourceWidth / width;
        for (var c = 0; c < channels; c++)
        {
            var plane = source.Slice(c * sourceHeight * sourceWidth, sourceHeight * sourceWidth);
            var output = destination.Slice(c * height * width, height * width);
            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    output[(y * width) + x] = mode switch
                    {
                        LatentUpscaleMode.Bilinear => Bilinear(plane, sourceHeight, sourceWidth, y, x, scaleY, scaleX),
                        LatentUpscaleMode.Nearest => plane[(Nearest(y * scaleY, sourceHeight) * sourceWidth) + Nearest(x * scaleX, sourceWidth)],
                        LatentUpscaleMode.NearestExact => plane[(Nearest((y + 0.5f) * scaleY, sourceHeight) * sourceWidth) + Nearest((x + 0.5f) * scaleX, sourceWidth)],
                        LatentUpscaleMode.Bicubic => Bicubic(plane, sourceHeight, sourceWidth, y, x, scaleY, scaleX),
                        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown latent upscale mode."),
                    };
                }
            }
        }
    }

    private static int Nearest(float position, int size) => Math.Min((int)MathF.Floor(position), size - 1);

    // align_corners=False: the centre of destination pixel d sits at (d + 0.5) x scale - 0.5 in the source, clamped at 0.
    private static float Bilinear(ReadOnlySpan<float> plane, int sourceHeight, int sourceWidth, int y, int x, float scaleY, float scaleX)
    {
        var (y0, y1, wy) = Linear(y, scaleY, sourceHeight);
        var (x0, x1, wx) = Linear(x, scaleX, sourceWidth);
        var top = ((1f - wx) * plane[(y0 * sourceWidth) + x0]) + (wx * plane[(y0 * sourceWidth) + x1]);
        var bottom = ((1f - wx) * plane[(y1 * sourceWidth) + x0]) + (wx * plane[(y1 * sourceWidth) + x1]);
        return ((1f - wy) * top) + (wy * bottom);
    }

    private static (int Low, int High, float Weight) Linear(int index, float scale, int size)
    {
        var real = Math.Max((scale * (index + 0.5f)) - 0.5f, 0f);
        var low = Math.Min((int)real, size - 1);
        var high = low < size - 1 ? low + 1 : low;
        return (low, high, real - low);
    }

    // As bilinear but unclamped, over four neighbours whose indices are clamped to the plane.
    private static float Bicubic(ReadOnlySpan<float> plane, int sourceHeight, int sourceWidth, int y, int x, float scaleY, float scaleX)
    {
        var realY = (scaleY * (y + 0.5f)) - 0.5f;
        var realX = (scaleX * (x + 0.5f)) - 0.5f;
        var y0 = (int)MathF.Floor(realY);
        var x0 = (int)MathF.Floor(realX);
        Span<float> wy = stackalloc float[4];
        Span<float> wx = stackalloc float[4];
        CubicWeights(realY - y0, wy);
        CubicWeights(realX - x0, wx);
        var sum = 0f;
        for (var j = 0; j < 4; j++)
        {
            var row = Math.Clamp(y0 - 1 + j, 0, sourceHeight - 1) * sourceWidth;
            var line = 0f;
            for (var i = 0; i < 4; i++)
            {
                line += wx[i] * plane[row + Math.Clamp(x0 - 1 + i, 0, sourceWidth - 1)];
            }

            sum += wy[j] * line;
        }

        return sum;
    }

    private static void CubicWeights(float t, Span<float> weights)
    {
        weights[0] = Far(t + 1f);
        weights[1] = Near(t);
        weights[2] = Near(1f - t);
        weights[3] = Far(2f - t);
    }

    // |x| <= 1 and 1 < |x| < 2 pieces of Keys' kernel.
    private static float Near(float x) => ((((CubicA + 2f) * x) - (CubicA + 3f)) * x * x) + 1f;

    private static float Far(float x) => ((((CubicA * x) - (5f * CubicA)) * x) + (8f * CubicA)) * x - (4f * CubicA);
}
