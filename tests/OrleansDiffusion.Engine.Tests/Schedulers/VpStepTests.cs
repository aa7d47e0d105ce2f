using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;
using static OrleansDiffusion.Engine.Tests.Schedulers.Sd15Reference;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>Steps of DDIM, PNDM, DPM++ 2M and LCM against their published update rules, worked out from acp here.</summary>
public sealed class VpStepTests
{
    private const double Tolerance = 2e-5;
    private static readonly SchedulerConfig Sd15 = SchedulerConfig.StableDiffusion15;

    [Fact]
    public void Ddim_epsilon_step_recombines_x0_and_eps_at_the_previous_timestep()
    {
        var ddim = new DdimScheduler(Sd15);
        ddim.SetTimesteps(50, Sample.Length);
        var sample = ToFloats(Sample);

        ddim.Step(ToFloats(ModelOutput), 10, sample, new NoiseGenerator(0));

        // t = 781, t_prev = 761: x0 = (x - sqrt(1 - acp) eps) / sqrt(acp); x' = sqrt(acp') x0 + sqrt(1 - acp') eps
        var acp = Acp(781);
        var acpPrevious = Acp(761);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = (Sample[i] - (Math.Sqrt(1 - acp) * ModelOutput[i])) / Math.Sqrt(acp);
            expected[i] = (Math.Sqrt(acpPrevious) * x0) + (Math.Sqrt(1 - acpPrevious) * ModelOutput[i]);
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Ddim_v_prediction_step_derives_x0_and_eps_from_v()
    {
        var ddim = new DdimScheduler(Sd15 with { PredictionType = PredictionType.VPrediction });
        ddim.SetTimesteps(50, Sample.Length);
        var sample = ToFloats(Sample);

        ddim.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(0));

        // x0 = sqrt(acp) x - sqrt(1 - acp) v; eps = sqrt(acp) v + sqrt(1 - acp) x
        var acp = Acp(981);
        var acpPrevious = Acp(961);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = (Math.Sqrt(acp) * Sample[i]) - (Math.Sqrt(1 - acp) * ModelOutput[i]);
            var eps = (Math.Sqrt(acp) * ModelOutput[i]) + (Math.Sqrt(1 - acp) * Sample[i]);
            expected[i] = (Math.Sqrt(acpPrevious) * x0) + (Math.Sqrt(1 - acpPrevious) * eps);
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Ddim_last_step_lands_on_acp0_when_set_alpha_to_one_is_false()
    {
        var ddim = new DdimScheduler(Sd15);
        ddim.SetTimesteps(50, Sample.Length);
        var sample = ToFloats(Sample);

        ddim.Step(ToFloats(ModelOutput), 49, sample, new NoiseGenerator(0));

        var acp = Acp(1);
        var acpFinal = Acp(0);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = (Sample[i] - (Math.Sqrt(1 - acp) * ModelOutput[i])) / Math.Sqrt(acp);
            expected[i] = (Math.Sqrt(acpFinal) * x0) + (Math.Sqrt(1 - acpFinal) * ModelOutput[i]);
        }

        AssertClose(expected, sample, Tolerance);
    }

    [Fact]
    public void Ddim_add_noise_mixes_signal_and_noise_by_acp()
    {
        var ddim = new DdimScheduler(Sd15);
        ddim.SetTimesteps(50, Sample.Length);
        var destination = new float[Sample.Length];

        ddim.AddNoise(ToFloats(Sample), ToFloats(ModelOutput), 25, destination);

        var acp = Acp(481);
        var expected = Sample.Select((x, i) => (Math.Sqrt(acp) * x) + (Math.Sqrt(1 - acp) * ModelOutput[i])).ToArray();
        AssertClose(expected, destination, Tolerance);
    }

    [Fact]
    public void Pndm_plms_steps_average_then_extrapolate_up_to_fourth_order()
    {
        var pndm = new PndmScheduler(Sd15);
        pndm.SetTimesteps(50, Sample.Length);
        var sample = ToFloats(Sample);
        var e = Enumerable.Range(0, 5).Select(ModelOutputForStep).ToArray();
        for (var step = 0; step < 5; step++)
        {
            pndm.Step(ToFloats(e[step]), step, sample, new NoiseGenerator(0));
        }

        // Timesteps 981, 961, 961, 941, 921. Call 1 redoes 981 -> 961 from the first sample with the average;
        // its prediction is not kept, so the history is e0, e2, e3, e4.
        var x = Sample;
        var x2 = Transfer(x, 981, 961, Combine((0.5, e[1]), (0.5, e[0])));
        var x3 = Transfer(x2, 961, 941, Combine((1.5, e[2]), (-0.5, e[0])));
        var x4 = Transfer(x3, 941, 921, Combine((23.0 / 12, e[3]), (-16.0 / 12, e[2]), (5.0 / 12, e[0])));
        var x5 = Transfer(x4, 921, 901, Combine((55.0 / 24, e[4]), (-59.0 / 24, e[3]), (37.0 / 24, e[2]), (-9.0 / 24, e[0])));

        AssertClose(x5, sample, 1e-4);
    }

    [Fact]
    public void Pndm_first_step_is_the_pndm_transfer_of_the_prediction()
    {
        var pndm = new PndmScheduler(Sd15);
        pndm.SetTimesteps(50, Sample.Length);
        var sample = ToFloats(Sample);

        pndm.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(0));

        AssertClose(Transfer(Sample, 981, 961, ModelOutput), sample, Tolerance);
    }

    [Fact]
    public void DpmPlusPlus2M_takes_a_first_order_then_a_midpoint_second_order_step()
    {
        var dpm = new DpmSolverMultistepScheduler(Sd15);
        dpm.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);
        var m0 = ModelOutputForStep(0);
        var m1 = ModelOutputForStep(1);
        dpm.Step(ToFloats(m0), 0, sample, new NoiseGenerator(0));
        var afterFirst = ToDoubles(sample);
        dpm.Step(ToFloats(m1), 1, sample, new NoiseGenerator(0));

        // Timesteps 999, 899, 799. alpha = 1/sqrt(sigma^2+1), s = sigma * alpha, lambda = ln alpha - ln s.
        var (a0, s0, l0) = Vp(Sigma(999));
        var (a1, s1, l1) = Vp(Sigma(899));
        var (a2, s2, l2) = Vp(Sigma(799));
        var x0First = Sample.Select((x, i) => (x - (s0 * m0[i])) / a0).ToArray();
        var h = l1 - l0;
        var expectedFirst = Sample.Select((x, i) => (s1 / s0 * x) - (a1 * (Math.Exp(-h) - 1) * x0First[i])).ToArray();
        AssertClose(expectedFirst, ToFloats(afterFirst), 1e-4);

        var x0Second = expectedFirst.Select((x, i) => (x - (s1 * m1[i])) / a1).ToArray();
        var h2 = l2 - l1;
        var r0 = (l1 - l0) / h2;
        var expectedSecond = new double[Sample.Length];
        for (var i = 0; i < expectedSecond.Length; i++)
        {
            var d0 = x0Second[i];
            var d1 = (x0Second[i] - x0First[i]) / r0;
            expectedSecond[i] = (s2 / s1 * expectedFirst[i]) - (a2 * (Math.Exp(-h2) - 1) * d0) - (0.5 * a2 * (Math.Exp(-h2) - 1) * d1);
        }

        AssertClose(expectedSecond, sample, 1e-4);
    }

    [Fact]
    public void DpmPlusPlus2M_final_step_returns_the_predicted_clean_sample()
    {
        var dpm = new DpmSolverMultistepScheduler(Sd15);
        dpm.SetTimesteps(2, Sample.Length);
        var sample = ToFloats(Sample);
        dpm.Step(ToFloats(ModelOutputForStep(0)), 0, sample, new NoiseGenerator(0));
        var before = ToDoubles(sample);
        var output = ModelOutputForStep(1);

        dpm.Step(ToFloats(output), 1, sample, new NoiseGenerator(0));

        // Two steps over linspace(0, 999, 3): 999 then 500 (499.5 rounded half to even).
        Assert.Equal(500f, dpm.Timesteps[1]);
        var (alpha, sigma, _) = Vp(Sigma(500));
        AssertClose(before.Select((x, i) => (x - (sigma * output[i])) / alpha).ToArray(), sample, 1e-4);
    }

    [Fact]
    public void Dpm_v_prediction_converts_v_to_x0()
    {
        var dpm = new DpmSolverMultistepScheduler(Sd15 with { PredictionType = PredictionType.VPrediction });
        dpm.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);

        dpm.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(0));

        var (a0, s0, l0) = Vp(Sigma(999));
        var (a1, s1, l1) = Vp(Sigma(899));
        var expected = Sample.Select((x, i) =>
        {
            var x0 = (a0 * x) - (s0 * ModelOutput[i]);
            return (s1 / s0 * x) - (a1 * (Math.Exp(-(l1 - l0)) - 1) * x0);
        }).ToArray();
        AssertClose(expected, sample, 1e-4);
    }

    [Fact]
    public void Lcm_step_applies_the_boundary_condition_then_renoises_to_the_next_timestep()
    {
        const long Seed = 77;
        var lcm = new LcmScheduler(Sd15);
        lcm.SetTimesteps(4, Sample.Length);
        var sample = ToFloats(Sample);

        lcm.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(Seed));

        // t = 999, next 759; scaled t = 9990; sigma_data = 0.5.
        var acp = Acp(999);
        var acpNext = Acp(759);
        var scaled = 999 * 10.0;
        var cSkip = 0.25 / ((scaled * scaled) + 0.25);
        var cOut = scaled / Math.Sqrt((scaled * scaled) + 0.25);
        var z = Normals(Seed, Sample.Length);
        var expected = new double[Sample.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            var x0 = (Sample[i] - (Math.Sqrt(1 - acp) * ModelOutput[i])) / Math.Sqrt(acp);
            var denoised = (cOut * x0) + (cSkip * Sample[i]);
            expected[i] = (Math.Sqrt(acpNext) * denoised) + (Math.Sqrt(1 - acpNext) * z[i]);
        }

        AssertClose(expected, sample, 1e-4);
    }

    [Fact]
    public void Lcm_last_step_returns_the_denoised_sample_without_noise()
    {
        var lcm = new LcmScheduler(Sd15);
        lcm.SetTimesteps(4, Sample.Length);
        var sample = ToFloats(Sample);
        var noise = new NoiseGenerator(5);

        lcm.Step(ToFloats(ModelOutput), 3, sample, noise);

        var acp = Acp(259);
        var scaled = 259 * 10.0;
        var cSkip = 0.25 / ((scaled * scaled) + 0.25);
        var cOut = scaled / Math.Sqrt((scaled * scaled) + 0.25);
        var expected = Sample.Select((x, i) =>
            (cOut * (x - (Math.Sqrt(1 - acp) * ModelOutput[i])) / Math.Sqrt(acp)) + (cSkip * x)).ToArray();
        AssertClose(expected, sample, 1e-4);
        Assert.Equal(new NoiseGenerator(5).NextUInt64(), noise.NextUInt64()); // no noise was drawn
    }

    /// <summary>The PNDM transfer from t to t_prev: sqrt(a'/a) x - (a' - a) e / (a sqrt(1 - a') + sqrt(a (1 - a) a')).</summary>
    private static double[] Transfer(double[] x, int t, int previous, double[] e)
    {
        var a = Acp(t);
        var ap = Acp(previous);
        var denominator = (a * Math.Sqrt(1 - ap)) + Math.Sqrt(a * (1 - a) * ap);
        return x.Select((value, i) => (Math.Sqrt(ap / a) * value) - ((ap - a) * e[i] / denominator)).ToArray();
    }

    private static double[] Combine(params (double Weight, double[] Values)[] terms)
    {
        var result = new double[terms[0].Values.Length];
        foreach (var (weight, values) in terms)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] += weight * values[i];
            }
        }

        return result;
    }

    private static (double Alpha, double Sigma, double Lambda) Vp(double sigma)
    {
        var alpha = 1 / Math.Sqrt((sigma * sigma) + 1);
        var sigmaVp = sigma * alpha;
        return (alpha, sigmaVp, Math.Log(alpha) - Math.Log(sigmaVp));
    }
}
