namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// AUTOMATIC1111's mask blur: OpenCV's <c>GaussianBlur</c> of the 8-bit mask with standard deviation <c>blur</c> and a
/// kernel of <c>2 * int(2.5 * blur + 0.5) + 1</c> taps, across (<c>mask_blur_x</c>) and then down (<c>mask_blur_y</c>),
/// each pass rounded back to 8 bits, with OpenCV's default border (reflected without repeating the edge pixel).
/// </summary>
internal static class MaskBlur
{
    /// <summary>Blurs <paramref name="mask"/> (<paramref name="width"/> x <paramref name="height"/>) in place.</summary>
    public static void Apply(Span<byte> mask, int width, int height, int blurX, int blurY)
    {
        if (blurX > 0)
        {
            Pass(mask, width, height, blurX, horizontal: true);
        }

        if (blurY > 0)
        {
            Pass(mask, width, height, blurY, horizontal: false);
        }
    }

    /// <summary>The normalised kernel A1111 asks OpenCV for.</summary>
    internal static double[] Kernel(int sigma)
    {
        var radius = (int)((2.5 * sigma) + 0.5);
        var kernel = new double[(2 * radius) + 1];
        for (var i = 0; i < kernel.Length; i++)
        {
            var x = i - radius;
            kernel[i] = Math.Exp(-(x * x) / (2.0 * sigma * sigma));
        }

        var sum = kernel.Sum();
        for (var i = 0; i < kernel.Length; i++)
        {
            kernel[i] /= sum;
        }

        return kernel;
    }

    private static void Pass(Span<byte> mask, int width, int height, int sigma, bool horizontal)
    {
        var kernel = Kernel(sigma);
        var radius = kernel.Length / 2;
        var lines = horizontal ? height : width;
        var length = horizontal ? width : height;
        var line = new double[length];
        var taps = new int[length + (2 * radius)];
        for (var i = 0; i < taps.Length; i++)
        {
            taps[i] = Reflect101(i - radius, length);
        }

        for (var l = 0; l < lines; l++)
        {
            for (var i = 0; i < length; i++)
            {
                line[i] = mask[Index(l, i)];
            }

            for (var i = 0; i < length; i++)
            {
                var sum = 0.0;
                for (var k = 0; k < kernel.Length; k++)
                {
                    sum += kernel[k] * line[taps[i + k]];
                }

                mask[Index(l, i)] = (byte)Math.Clamp(Math.Round(sum, MidpointRounding.AwayFromZero), 0, 255);
            }
        }

        int Index(int l, int i) => horizontal ? (l * width) + i : (i * width) + l;
    }

    // OpenCV's BORDER_REFLECT_101: gfedcb|abcdefgh|gfedcba, repeated for kernels wider than the image.
    private static int Reflect101(int i, int length)
    {
        if (length == 1)
        {
            return 0;
        }

        while (i < 0 || i >= length)
        {
            i = i < 0 ? -i : (2 * length) - 2 - i;
        }

        return i;
    }
}
