using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// float32 to and from ONNX Runtime's <see cref="Float16"/>, vectorised. <see cref="Float16"/> is the IEEE binary16
/// bit pattern in a 16-bit struct, as <see cref="Half"/> is, so a span of one is read as a span of the other and
/// <see cref="TensorPrimitives"/> converts it (round to nearest even, as the element-wise casts do).
/// </summary>
internal static class HalfConversion
{
    // Scaled values are staged on the stack in chunks of this many floats (4 KiB): no heap, and still long enough vectors.
    private const int Chunk = 1024;

    public static void ToHalf(ReadOnlySpan<float> source, Span<Float16> destination) =>
        TensorPrimitives.ConvertToHalf(source, AsHalf(destination));

    /// <summary>Writes <c>source * scale</c> as float16.</summary>
    public static void ToHalf(ReadOnlySpan<float> source, float scale, Span<Float16> destination)
    {
        if (scale == 1f)
        {
            ToHalf(source, destination);
            return;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length, nameof(destination));
        Span<float> scaled = stackalloc float[Chunk];
        for (var start = 0; start < source.Length; start += Chunk)
        {
            var count = Math.Min(Chunk, source.Length - start);
            var part = scaled[..count];
            TensorPrimitives.Multiply(source.Slice(start, count), scale, part);
            ToHalf(part, destination.Slice(start, count));
        }
    }

    public static void ToSingle(ReadOnlySpan<Float16> source, Span<float> destination) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(source), destination);

    private static Span<Half> AsHalf(Span<Float16> values) => MemoryMarshal.Cast<Float16, Half>(values);
}
