namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// AUTOMATIC1111's "Only masked" area (<c>inpaint_full_res</c>): the box around every pixel the mask repaints, grown by
/// the padding and then to the aspect ratio of the generation, so that the box can be rendered at the full generation
/// size and scaled back into place (A1111's <c>get_crop_region</c> and <c>expand_crop_region</c>).
/// </summary>
public static class MaskRegion
{
    /// <summary>
    /// The region of <paramref name="mask"/> (<paramref name="width"/> x <paramref name="height"/>, above 0 repaints) to
    /// render, or null when the mask repaints nothing.
    /// </summary>
    public static PixelRegion? Find(ReadOnlySpan<float> mask, int width, int height, int padding)
    {
        PixelMath.ValidateShape(mask.Length, 1, width, height, nameof(mask));
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        int left = width, top = height, right = -1, bottom = -1;
        for (var y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            for (var x = 0; x < width; x++)
            {
                if (row[x] > 0f)
                {
                    left = Math.Min(left, x);
                    right = Math.Max(right, x);
                    top = Math.Min(top, y);
                    bottom = Math.Max(bottom, y);
                }
            }
        }

        if (right < 0)
        {
            return null;
        }

        // Exclusive right and bottom, as A1111 counts them.
        var x1 = Math.Max(left - padding, 0);
        var y1 = Math.Max(top - padding, 0);
        var x2 = Math.Min(right + 1 + padding, width);
        var y2 = Math.Min(bottom + 1 + padding, height);
        return Expand(x1, y1, x2, y2, width, height);
    }

    // Grows the short side of the box, centred, to the generation's aspect ratio; shifted back inside the image where
    // it would leave it, and cut at the image where the image is too small.
    private static PixelRegion Expand(int x1, int y1, int x2, int y2, int width, int height)
    {
        var ratioBox = (double)(x2 - x1) / (y2 - y1);
        var ratioImage = (double)width / height;
        if (ratioBox > ratioImage)
        {
            (y1, y2) = Grow(y1, y2, (int)(((x2 - x1) / ratioImage) - (y2 - y1)), height);
        }
        else
        {
            (x1, x2) = Grow(x1, x2, (int)(((y2 - y1) * ratioImage) - (x2 - x1)), width);
        }

        return new PixelRegion(x1, y1, x2 - x1, y2 - y1);
    }

    private static (int Start, int End) Grow(int start, int end, int by, int limit)
    {
        start -= by / 2;
        end += by - (by / 2);
        if (end >= limit)
        {
            start -= end - limit;
            end = limit;
        }

        if (start < 0)
        {
            end -= start;
            start = 0;
        }

        return (start, Math.Min(end, limit));
    }
}
