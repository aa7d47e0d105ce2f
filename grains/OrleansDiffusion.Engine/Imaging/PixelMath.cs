using System.Runtime.CompilerServices;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>The one mapping between model space [-1, 1] and 8-bit samples, shared by every encoder and loader.</summary>
internal static class PixelMath
{
    /// <summary>round((x + 1) / 2 * 255) after clamping to [-1, 1]; NaN becomes 0 (mid-grey) rather than black.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte ToByte(float x)
    {
        if (float.IsNaN(x))
        {
            x = 0f;
        }

        x = Math.Clamp(x, -1f, 1f);
        // Half-up rounding: (x + 1) * 127.5 is never negative, so truncating after + 0.5 rounds.
        return (byte)((x + 1f) * 127.5f + 0.5f);
    }

    /// <summary>The inverse of <see cref="ToByte"/>: 0 maps to -1, 255 to 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUnit(byte value) => value / 127.5f - 1f;

    /// <summary>Planar CHW floats to interleaved RGB bytes.</summary>
    public static void PlanarToInterleaved(ReadOnlySpan<float> chw, Span<byte> rgb, int pixelCount)
    {
        var red = chw[..pixelCount];
        var green = chw.Slice(pixelCount, pixelCount);
        var blue = chw.Slice(2 * pixelCount, pixelCount);
        rgb = rgb[..(3 * pixelCount)];
        for (int i = 0, j = 0; i < pixelCount; i++, j += 3)
        {
            rgb[j] = ToByte(red[i]);
            rgb[j + 1] = ToByte(green[i]);
            rgb[j + 2] = ToByte(blue[i]);
        }
    }

    public static void ValidateShape(int length, int channels, int width, int height, string paramName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var expected = (long)channels * width * height;
        if (length != expected)
        {
            throw new ArgumentException(
                $"Expected {channels} x {height} x {width} = {expected} values, got {length}.", paramName);
        }
    }
}
