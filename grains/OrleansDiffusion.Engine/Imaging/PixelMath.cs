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

    // Planes are converted in chunks of this many pixels on the stack (4 KiB of floats, 3 KiB of bytes).
    private const int Chunk = 1024;

    // Vector128.Shuffle indices that spread 16 bytes of one plane over 48 interleaved bytes: output vector j (bytes
    // 16j..16j+15 of RGBRGB...) takes pixel (16j + i) / 3 of channel c where (16j + i) % 3 == c, and 0 elsewhere (an
    // index out of range selects 0), so the three shuffles of one output vector OR together.
    private static readonly Vector128<byte>[] Spread = BuildSpread();

    /// <summary>Planar CHW floats to interleaved RGB bytes.</summary>
    /// <returns>False when a value is NaN or infinite (its byte is still written: NaN as mid-grey, infinities clamped).</returns>
    /// <remarks>
    /// Chunk by chunk: each plane's floats become bytes in vectors (<see cref="ToBytes"/>) into the stack, and the three
    /// chunks are interleaved with byte shuffles, so the pixels are read once and no image-sized temporary is needed.
    /// </remarks>
    public static bool PlanarToInterleaved(ReadOnlySpan<float> chw, Span<byte> rgb, int pixelCount) =>
        PlanarToInterleaved(chw, default, half: false, rgb, pixelCount);

    /// <summary>
    /// <see cref="PlanarToInterleaved(ReadOnlySpan{float}, Span{byte}, int)"/> from float16 (a float16 VAE's output):
    /// each chunk is widened on the stack first, which is the float32 value exactly, so the bytes are the same.
    /// </summary>
    public static bool PlanarToInterleaved(ReadOnlySpan<Half> chw, Span<byte> rgb, int pixelCount) =>
        PlanarToInterleaved(default, chw, half: true, rgb, pixelCount);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool PlanarToInterleaved(ReadOnlySpan<float> floats, ReadOnlySpan<Half> halves, bool half, Span<byte> rgb, int pixelCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(half ? halves.Length : floats.Length, 3 * pixelCount, "chw");
        rgb = rgb[..(3 * pixelCount)];
        Span<float> widened = stackalloc float[Chunk];
        Span<byte> planes = stackalloc byte[3 * Chunk];
        var finite = true;
        for (var start = 0; start < pixelCount; start += Chunk)
        {
            var count = Math.Min(Chunk, pixelCount - start);
            for (var c = 0; c < 3; c++)
            {
                scoped ReadOnlySpan<float> plane;
                if (half)
                {
                    System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves.Slice((c * pixelCount) + start, count), widened[..count]);
                    plane = widened[..count];
                }
                else
                {
                    plane = floats.Slice((c * pixelCount) + start, count);
                }

                finite &= AllFinite(plane);
                ToBytes(plane, planes.Slice(c * Chunk, count));
            }

            Interleave(planes[..count], planes.Slice(Chunk, count), planes.Slice(2 * Chunk, count), rgb.Slice(3 * start, 3 * count));
        }

        return finite;
    }

    /// <summary>Whether every value is finite (x - x is 0 for every finite x, NaN for infinities and NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var bad = Vector128<float>.Zero;
            for (; i + 4 <= values.Length; i += 4)
            {
                var v = Vector128.Create(values.Slice(i, 4));
                bad |= ~Vector128.Equals(v - v, Vector128<float>.Zero);
            }

            if (bad.AsUInt32() != Vector128<uint>.Zero)
            {
                return false;
            }
        }

        for (; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Three planes of bytes to RGBRGB..., sixteen pixels (three vectors) at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Interleave(ReadOnlySpan<byte> r, ReadOnlySpan<byte> g, ReadOnlySpan<byte> b, Span<byte> rgb)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 16 <= r.Length; i += 16)
            {
                var vr = Vector128.Create(r.Slice(i, 16));
                var vg = Vector128.Create(g.Slice(i, 16));
                var vb = Vector128.Create(b.Slice(i, 16));
                var destination = rgb.Slice(3 * i, 48);
                for (var j = 0; j < 3; j++)
                {
                    var v = Vector128.Shuffle(vr, Spread[3 * j]) | Vector128.Shuffle(vg, Spread[(3 * j) + 1]) | Vector128.Shuffle(vb, Spread[(3 * j) + 2]);
                    v.CopyTo(destination[(16 * j)..]);
                }
            }
        }

        for (; i < r.Length; i++)
        {
            rgb[3 * i] = r[i];
            rgb[(3 * i) + 1] = g[i];
            rgb[(3 * i) + 2] = b[i];
        }
    }

    private static Vector128<byte>[] BuildSpread()
    {
        var spread = new Vector128<byte>[9];
        Span<byte> indices = stackalloc byte[16];
        for (var j = 0; j < 3; j++)
        {
            for (var c = 0; c < 3; c++)
            {
                for (var i = 0; i < 16; i++)
                {
                    var k = (16 * j) + i;
                    indices[i] = k % 3 == c ? (byte)(k / 3) : byte.MaxValue;
                }

                spread[(3 * j) + c] = Vector128.Create<byte>(indices);
            }
        }

        return spread;
    }

    /// <summary><see cref="ToByte"/> of every value, sixteen at a time where the hardware has 128-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
