using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

public sealed class HalfConversionTests
{
    // Normal values, the float16 extremes, subnormals, zeros, infinities, overflow, NaN, and ties between two float16
    // neighbours (round to nearest even: 1 + 2^-11 stays 1, 1 + 3 * 2^-11 goes up).
    private static readonly float[] Values =
    [
        0f, -0f, 1f, -1f, 0.1f, -2.5f, 3.14159f, 1234.5678f, -0.333333f, 65504f, -65504f, 65519.99f, 65520f, 1e6f, -1e6f,
        6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.98023259e-8f, 1e-7f, -3e-6f, 1e-10f, -1e-45f,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN, float.MaxValue, float.Epsilon,
        1f + MathF.Pow(2, -11), 1f + (3 * MathF.Pow(2, -11)), 2048f + 1f, 2048f + 3f, -(1f + MathF.Pow(2, -11)),
        0.5f + MathF.Pow(2, -12), 1f + MathF.Pow(2, -11) + MathF.Pow(2, -20),
    ];

    [Fact]
    public void Float_to_half_equals_the_element_wise_cast()
    {
        // Long enough for the vector paths and a scalar tail.
        var source = Enumerable.Range(0, 1000).Select(i => Values[i % Values.Length] * (i % 7 == 0 ? 1f : 1f + (i * 1e-4f))).ToArray();
        var vectorised = new Float16[source.Length];
        HalfConversion.ToHalf(source, vectorised);
        for (var i = 0; i < source.Length; i++)
        {
            AssertSameHalf((Float16)source[i], vectorised[i], source[i]);
            AssertSameHalf(BitConverter.HalfToUInt16Bits((Half)source[i]), vectorised[i], source[i]);
        }
    }

    [Fact]
    public void Scaled_float_to_half_equals_scaling_then_casting()
    {
        // Longer than the stack chunk, so that the chunk boundaries are crossed.
        var source = Enumerable.Range(0, 5000).Select(i => Values[i % Values.Length] + (i * 0.01f)).ToArray();
        var vectorised = new Float16[source.Length];
        HalfConversion.ToHalf(source, 0.18215f, vectorised);
        for (var i = 0; i < source.Length; i++)
        {
            AssertSameHalf((Float16)(source[i] * 0.18215f), vectorised[i], source[i]);
        }
    }

    [Fact]
    public void Half_to_float_equals_the_element_wise_cast_for_every_bit_pattern()
    {
        var halves = new Float16[65536];
        for (var bits = 0; bits < halves.Length; bits++)
        {
            halves[bits] = new Float16((ushort)bits);
        }

        var vectorised = new float[halves.Length];
        HalfConversion.ToSingle(halves, vectorised);
        for (var bits = 0; bits < halves.Length; bits++)
        {
            var expected = (float)halves[bits];
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(vectorised[bits]), $"0x{bits:x4} should stay NaN");
            }
            else
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(vectorised[bits]));
            }
        }
    }

    private static void AssertSameHalf(Float16 expected, Float16 actual, float source) =>
        AssertSameHalf(expected.value, actual, source);

    private static void AssertSameHalf(ushort expected, Float16 actual, float source)
    {
        if (float.IsNaN(source))
        {
            Assert.True(Float16.IsNaN(actual), $"{source} should convert to NaN");
            return;
        }

        Assert.True(expected == actual.value, $"{source:R}: expected 0x{expected:x4}, got 0x{actual.value:x4}");
    }
}
