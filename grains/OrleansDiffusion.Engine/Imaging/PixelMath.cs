using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    /// <remarks>Each plane is converted in vectors (<see cref="ToBytes"/>) into a chunk on the stack, then interleaved.</remarks>
    public static void PlanarToInterleaved(ReadOnlySpan<float> chw, Span<byte> rgb, int pixelCount)
    {
        const int Chunk = 1024;
        var red = chw[..pixelCount];
        var green = chw.Slice(pixelCount, pixelCount);
        var blue = chw.Slice(2 * pixelCount, pixelCount);
        rgb = rgb[..(3 * pixelCount)];
        Span<byte> r = stackalloc byte[Chunk];
        Span<byte> g = stackalloc byte[Chunk];
        Span<byte> b = stackalloc byte[Chunk];
        for (var start = 0; start < pixelCount; start += Chunk)
        {
            var count = Math.Min(Chunk, pixelCount - start);
            ToBytes(red.Slice(start, count), r);
            ToBytes(green.Slice(start, count), g);
            ToBytes(blue.Slice(start, count), b);
            var destination = rgb.Slice(3 * start, 3 * count);
            for (int i = 0, j = 0; i < count; i++, j += 3)
            {
                destination[j] = r[i];
                destination[j + 1] = g[i];
                destination[j + 2] = b[i];
            }
        }
    }

    /// <summary><see cref="ToByte"/> of every value, sixteen at a time where the hardware has 128-bit vectors.</summary>
    public static void ToBytes(ReadOnlySpan<float> source, Span<byte> destination)
    {
        destination = destination[..source.Length];
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var low = Vector128.Create(-1f);
            var high = Vector128.Create(1f);
            var scale = Vector128.Create(127.5f);
            var half = Vector128.Create(0.5f);
            for (; i + 16 <= source.Length; i += 16)
            {
                var a = Sample(Vector128.Create(source.Slice(i, 4)), low, high, scale, half);
                var b = Sample(Vector128.Create(source.Slice(i + 4, 4)), low, high, scale, half);
                var c = Sample(Vector128.Create(source.Slice(i + 8, 4)), low, high, scale, half);
                var d = Sample(Vector128.Create(source.Slice(i + 12, 4)), low, high, scale, half);

                // Every sample is in [0, 255], so narrowing (which truncates) loses nothing.
                var bytes = Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(c, d));
                bytes.AsByte().CopyTo(destination[i..]);
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = ToByte(source[i]);
        }
    }

    // The same arithmetic as ToByte, in the same order, so that both give the same byte for every float.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Sample(Vector128<float> x, Vector128<float> low, Vector128<float> high, Vector128<float> scale, Vector128<float> half)
    {
        x = Vector128.ConditionalSelect(Vector128.Equals(x, x), x, Vector128<float>.Zero);
        x = Vector128.Min(Vector128.Max(x, low), high);
        return Vector128.ConvertToInt32(((x + Vector128<float>.One) * scale) + half);
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
