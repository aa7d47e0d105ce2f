namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// AUTOMATIC1111's "fill" start for the masked area (<c>inpainting_fill</c> 0, its API default): the pixels the mask
/// keeps, blurred ever less (standard deviations 256, 64, 16, 4, 2, then none) and laid one over the other, flow into
/// the area it repaints, so that img2img starts there from the colours around it rather than from what was there.
/// </summary>
/// <remarks>
/// Each layer is the kept pixels with alpha <c>1 - mask</c>, premultiplied, blurred, unpremultiplied and composited
/// over the layers before (A1111 composites the finer ones several times). The blur is three box passes, as PIL's
/// <c>GaussianBlur</c> approximates a Gaussian, with edges extended; it is not bit-exact with PIL.
/// </remarks>
internal static class MaskFill
{
    private static readonly (int Radius, int Repeats)[] Layers = [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)];

    /// <summary>Fills <paramref name="image"/> (<c>[3, height, width]</c> in [-1, 1]) where <paramref name="mask"/> repaints, in place.</summary>
    public static void Apply(Span<float> image, ReadOnlySpan<float> mask, int width, int height)
    {
        PixelMath.ValidateShape(image.Length, 3, width, height, nameof(image));
        PixelMath.ValidateShape(mask.Length, 1, width, height, nameof(mask));
        var plane = width * height;

        // Premultiplied RGBA of what the mask keeps, colours in [0, 1].
        var kept = new float[4 * plane];
        for (var p = 0; p < plane; p++)
        {
            var alpha = 1f - Math.Clamp(mask[p], 0f, 1f);
            for (var c = 0; c < 3; c++)
            {
                kept[(c * plane) + p] = (image[(c * plane) + p] + 1f) * 0.5f * alpha;
            }

            kept[(3 * plane) + p] = alpha;
        }

        var colour = new float[3 * plane];
        var coverage = new float[plane];
        var layer = new float[4 * plane];
        var scratch = new float[Math.Max(width, height)];
        foreach (var (radius, repeats) in Layers)
        {
            kept.CopyTo(layer, 0);
            if (radius > 0)
            {
                for (var c = 0; c < 4; c++)
                {
                    BoxBlur3(layer.AsSpan(c * plane, plane), width, height, BoxRadius(radius), scratch);
                }
            }

            for (var p = 0; p < plane; p++)
            {
                var alpha = layer[(3 * plane) + p];
                if (alpha <= 0f)
                {
                    continue;
                }

                for (var repeat = 0; repeat < repeats; repeat++)
                {
                    // Straight-alpha "over": the layer on top of what is there.
                    var below = coverage[p] * (1f - alpha);
                    var total = alpha + below;
                    for (var c = 0; c < 3; c++)
                    {
                        var top = Math.Clamp(layer[(c * plane) + p] / alpha, 0f, 1f);
                        colour[(c * plane) + p] = ((top * alpha) + (colour[(c * plane) + p] * below)) / total;
                    }

                    coverage[p] = total;
                }
            }
        }

        for (var i = 0; i < colour.Length; i++)
        {
            image[i] = (colour[i] * 2f) - 1f;
        }
    }

    // Three box passes of half-width r have the variance r (r + 1) of a Gaussian of standard deviation about r + 0.5.
    private static int BoxRadius(int sigma) => Math.Max(1, (int)Math.Round(Math.Sqrt((sigma * sigma) + 0.25) - 0.5));

    private static void BoxBlur3(Span<float> plane, int width, int height, int radius, float[] scratch)
    {
        for (var pass = 0; pass < 3; pass++)
        {
            for (var y = 0; y < height; y++)
            {
                BoxLine(plane, y * width, 1, width, radius, scratch);
            }

            for (var x = 0; x < width; x++)
            {
                BoxLine(plane, x, width, height, radius, scratch);
            }
        }
    }

    // A running mean over 2r + 1 samples of one row or column, with the edge samples extended.
    private static void BoxLine(Span<float> plane, int start, int stride, int length, int radius, float[] scratch)
    {
        var line = scratch.AsSpan(0, length);
        for (var i = 0; i < length; i++)
        {
            line[i] = plane[start + (i * stride)];
        }

        float At(Span<float> values, int i) => values[Math.Clamp(i, 0, length - 1)];

        var sum = 0.0;
        for (var i = -radius; i <= radius; i++)
        {
            sum += At(line, i);
        }

        var window = (2 * radius) + 1;
        for (var i = 0; i < length; i++)
        {
            plane[start + (i * stride)] = (float)(sum / window);
            sum += At(line, i + radius + 1) - At(line, i - radius);
        }
    }
}
