using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;
using static OrleansDiffusion.Engine.Tests.Schedulers.Sd15Reference;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// One or a few steps of the sigma-space schedulers against the published update rules, worked out here from the
/// SD 1.5 sigmas at the linspace timesteps 999, 888, 777, 666 (10 steps).
/// </summary>
public sealed class SigmaSpaceStepTests
{
    private const double Tolerance = 2e-5;
    private static readonly SchedulerConfig Sd15 = SchedulerConfig.StableDiffusion15;

    [Fact]
    public void Euler_epsilon_step_moves_along_the_noise_by_the_sigma_difference()
    {
        var euler = new EulerScheduler(Sd15);
        euler.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);

        euler.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(0));

        // x0 = x - sigma * eps; d = (x - x0) / sigma; x' = x + d * (sigma_next - sigma)
        var sigma = Sigma(999);
        var next = Sigma(888);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = Sample[i] - (sigma * ModelOutput[i]);
            var derivative = (Sample[i] - x0) / sigma;
            expected[i] = Sample[i] + (derivative * (next - sigma));
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Euler_v_prediction_step_uses_the_v_to_x0_conversion()
    {
        var euler = new EulerScheduler(Sd15 with { PredictionType = PredictionType.VPrediction });
        euler.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);

        euler.Step(ToFloats(ModelOutput), 3, sample, new NoiseGenerator(0));

        // x0 = v * (-sigma / sqrt(sigma^2 + 1)) + x / (sigma^2 + 1)
        var sigma = Sigma(666);
        var next = Sigma(555);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = (ModelOutput[i] * (-sigma / Math.Sqrt((sigma * sigma) + 1))) + (Sample[i] / ((sigma * sigma) + 1));
            expected[i] = Sample[i] + ((Sample[i] - x0) / sigma * (next - sigma));
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Euler_add_noise_scales_noise_by_the_step_sigma()
    {
        var euler = new EulerScheduler(Sd15);
        euler.SetTimesteps(10, Sample.Length);
        var destination = ToFloats(Sample);

        euler.AddNoise(destination, ToFloats(ModelOutput), 2, destination);

        var expected = Sample.Select((x, i) => x + (Sigma(777) * ModelOutput[i])).ToArray();
        AssertClose(expected, destination, Tolerance);
    }

    [Fact]
    public void Euler_ancestral_step_goes_down_to_sigma_down_then_adds_sigma_up_noise()
    {
        const long Seed = 1234;
        var ancestral = new EulerAncestralScheduler(Sd15);
        ancestral.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);

        ancestral.Step(ToFloats(ModelOutput), 1, sample, new NoiseGenerator(Seed));

        var sigma = Sigma(888);
        var next = Sigma(777);
        var sigmaUp = Math.Sqrt(next * next * ((sigma * sigma) - (next * next)) / (sigma * sigma));
        var sigmaDown = Math.Sqrt((next * next) - (sigmaUp * sigmaUp));
        var z = Normals(Seed, Sample.Length);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = Sample[i] - (sigma * ModelOutput[i]);
            var derivative = (Sample[i] - x0) / sigma;
            expected[i] = Sample[i] + (derivative * (sigmaDown - sigma)) + (z[i] * sigmaUp);
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Lms_three_steps_integrate_the_lagrange_coefficients_of_orders_1_2_and_3()
    {
        var lms = new LmsScheduler(Sd15);
        lms.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);
        double[] sigmas = [Sigma(999), Sigma(888), Sigma(777), Sigma(666)];
        Assert.Equal(1 / Math.Sqrt((sigmas[0] * sigmas[0]) + 1), lms.ModelInputScale(0), 1e-6);

        var expected = (double[])Sample.Clone();
        var derivatives = new List<double[]>();
        for (var step = 0; step < 3; step++)
        {
            var output = ModelOutputForStep(step);
            lms.Step(ToFloats(output), step, sample, new NoiseGenerator(0));

            // epsilon: x0 = x - sigma * eps, so the derivative (x - x0) / sigma is eps itself.
            var derivative = new double[Sample.Length];
            for (var i = 0; i < derivative.Length; i++)
            {
                var x0 = expected[i] - (sigmas[step] * output[i]);
                derivative[i] = (expected[i] - x0) / sigmas[step];
            }

            derivatives.Insert(0, derivative);
            var order = derivatives.Count;
            for (var j = 0; j < order; j++)
            {
                var coefficient = SimpsonLagrangeIntegral(sigmas, step, order, j);
                for (var i = 0; i < expected.Length; i++)
                {
                    expected[i] += coefficient * derivatives[j][i];
                }
            }

            AssertClose(expected, sample, 1e-4);
        }
    }

    /// <summary>
    /// The integral from sigma_t to sigma_(t+1) of the Lagrange basis polynomial of node sigma_(t-j) over the nodes
    /// sigma_t .. sigma_(t-order+1), by Simpson's rule, which is exact for these polynomials of degree at most 3.
    /// </summary>
    private static double SimpsonLagrangeIntegral(double[] sigmas, int t, int order, int j)
    {
        double Basis(double tau)
        {
            var product = 1.0;
            for (var k = 0; k < order; k++)
            {
                if (k != j)
                {
                    product *= (tau - sigmas[t - k]) / (sigmas[t - j] - sigmas[t - k]);
                }
            }

            return product;
        }

        var a = sigmas[t];
        var b = sigmas[t + 1];
        return (b - a) / 6 * (Basis(a) + (4 * Basis((a + b) / 2)) + Basis(b));
    }
}
