using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

public sealed class FinalLayerNormTests
{
    private const int Tokens = 40;
    private const int Hidden = 16;
    private const double Epsilon = 1e-5;

    [Fact]
    public void The_scale_and_bias_of_a_layer_norm_are_recovered_from_its_inputs_and_outputs()
    {
        var before = Random(Tokens * Hidden, seed: 1, spread: 3);
        var scale = Random(Hidden, seed: 2, spread: 0.5).Select(v => 1 + v).ToArray();
        var bias = Random(Hidden, seed: 3, spread: 0.2);
        var after = LayerNorm(before, scale, bias);

        var norm = FinalLayerNorm.Fit(before, after, Hidden, Epsilon, out var error);

        Assert.True(error < 1e-6, $"relative error {error}");
        for (var c = 0; c < Hidden; c++)
        {
            Assert.Equal(scale[c], norm.Scale[c], 1e-5);
            Assert.Equal(bias[c], norm.Bias[c], 1e-5);
        }

        // Applied to other states it is the same norm.
        var other = Random(3 * Hidden, seed: 4, spread: 5);
        var expected = LayerNorm(other, scale, bias);
        norm.Apply(other);
        for (var i = 0; i < other.Length; i++)
        {
            Assert.Equal(expected[i], other[i], 1e-4);
        }
    }

    [Fact]
    public void Outputs_that_are_not_a_layer_norm_of_the_inputs_show_a_large_error()
    {
        var before = Random(Tokens * Hidden, seed: 5, spread: 3);
        var after = before.Select(v => MathF.Tanh(v * v)).ToArray();

        FinalLayerNorm.Fit(before, after, Hidden, Epsilon, out var error);

        Assert.True(error > 0.05, $"relative error {error}");
    }

    private static float[] LayerNorm(float[] states, float[] scale, float[] bias)
    {
        var result = new float[states.Length];
        for (var t = 0; t < states.Length / Hidden; t++)
        {
            var row = states.AsSpan(t * Hidden, Hidden).ToArray().Select(v => (double)v).ToArray();
            var mean = row.Average();
            var deviation = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average() + Epsilon);
            for (var c = 0; c < Hidden; c++)
            {
                result[(t * Hidden) + c] = (float)(((row[c] - mean) / deviation * scale[c]) + bias[c]);
            }
        }

        return result;
    }

    private static float[] Random(int length, int seed, double spread)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => (float)(((random.NextDouble() * 2) - 1) * spread))];
    }
}
