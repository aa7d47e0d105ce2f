using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// The SD 1.5 training schedule worked out here from its definition, independently of the engine's tables, plus
/// the small tensors and comparisons the scheduler tests share.
/// </summary>
internal static class Sd15Reference
{
    /// <summary>betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2; acp[t] = prod_(s&lt;=t) (1 - beta_s).</summary>
    public static double[] AlphasCumprod { get; } = BuildAlphasCumprod();

    public static double[] Sample { get; } = [0.5, -1.2, 0.3, 2.0, -0.7, 0.1];

    public static double[] ModelOutput { get; } = [0.1, 0.4, -0.3, 0.8, -0.5, 0.2];

    /// <summary>SD 1.5 with a noise-free last step, so that DDIM and PNDM end exactly on x0 in convergence tests.</summary>
    public static SchedulerConfig NoiseFreeEnd { get; } = SchedulerConfig.StableDiffusion15 with { SetAlphaToOne = true };

    public static double Acp(int t) => AlphasCumprod[t];

    /// <summary>The sigma-space sigma sqrt((1 - acp) / acp) at an integer training timestep.</summary>
    public static double Sigma(int t) => Math.Sqrt((1 - AlphasCumprod[t]) / AlphasCumprod[t]);

    /// <summary>Sigma at a fractional timestep, linear between the neighbouring integer timesteps.</summary>
    public static double SigmaAt(double t)
    {
        var low = Math.Clamp((int)Math.Floor(t), 0, AlphasCumprod.Length - 1);
        var high = Math.Min(low + 1, AlphasCumprod.Length - 1);
        return Sigma(low) + ((t - low) * (Sigma(high) - Sigma(low)));
    }

    /// <summary>A model output per step that differs from step to step, so multistep history actually matters.</summary>
    public static double[] ModelOutputForStep(int step)
    {
        var output = new double[ModelOutput.Length];
        for (var i = 0; i < output.Length; i++)
        {
            output[i] = ModelOutput[i] * (1 + (0.25 * step)) + (0.05 * step * (i % 2 == 0 ? 1 : -1));
        }

        return output;
    }

    public static float[] ToFloats(double[] values) => Array.ConvertAll(values, v => (float)v);

    public static double[] ToDoubles(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
    }

    public static double[] Normals(long seed, int count)
    {
        var buffer = new float[count];
        new Numerics.NoiseGenerator(seed).FillNormal(buffer);
        return ToDoubles(buffer);
    }

    /// <summary>Element-wise closeness with a tolerance relative to the larger of 1 and the expected magnitude.</summary>
    public static void AssertClose(double[] expected, ReadOnlySpan<float> actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var allowed = tolerance * Math.Max(1.0, Math.Abs(expected[i]));
            Assert.True(
                Math.Abs(expected[i] - actual[i]) <= allowed,
                $"Element {i}: expected {expected[i]:R}, actual {actual[i]:R} (tolerance {allowed:G3}).");
        }
    }

    private static double[] BuildAlphasCumprod()
    {
        const int N = 1000;
        var rootStart = Math.Sqrt(0.00085);
        var rootEnd = Math.Sqrt(0.012);
        var acp = new double[N];
        var product = 1.0;
        for (var t = 0; t < N; t++)
        {
            var root = rootStart + ((rootEnd - rootStart) * t / (N - 1));
            product *= 1 - (root * root);
            acp[t] = product;
        }

        return acp;
    }
}
