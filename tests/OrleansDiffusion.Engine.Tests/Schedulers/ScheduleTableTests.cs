using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

public sealed class ScheduleTableTests
{
    private static readonly SchedulerConfig Sd15 = SchedulerConfig.StableDiffusion15;

    [Fact]
    public void Sd15_sigma_is_14_6146_at_t999_and_0_0292_at_t0()
    {
        var euler = new EulerScheduler(Sd15);
        euler.SetTimesteps(10, 4);

        Assert.Equal(999f, euler.Timesteps[0]);
        Assert.Equal(0f, euler.Timesteps[^1]);
        Assert.Equal(14.6146, euler.Sigmas[0], 1e-3);
        Assert.Equal(0.0292, euler.Sigmas[^2], 1e-3);
        Assert.Equal(0f, euler.Sigmas[^1]);
        Assert.Equal(14.6146, Sd15Reference.Sigma(999), 1e-3);
        Assert.Equal(0.0292, Sd15Reference.Sigma(0), 1e-3);
    }

    [Fact]
    public void Euler_init_noise_sigma_is_max_sigma_for_linspace_and_lifted_for_leading()
    {
        var linspace = new EulerScheduler(Sd15);
        linspace.SetTimesteps(10, 4);
        Assert.Equal(Sd15Reference.Sigma(999), linspace.InitNoiseSigma, 1e-4);

        // leading, 10 steps, offset 1: 901, 801, ..., 1; diffusers pairs the largest sigma with sqrt(sigma^2 + 1).
        var leading = new EulerScheduler(Sd15 with { TimestepSpacing = TimestepSpacing.Leading });
        leading.SetTimesteps(10, 4);
        Assert.Equal([901f, 801f, 701f, 601f, 501f, 401f, 301f, 201f, 101f, 1f], leading.Timesteps.ToArray());
        var sigma = Sd15Reference.Sigma(901);
        Assert.Equal(Math.Sqrt((sigma * sigma) + 1), leading.InitNoiseSigma, 1e-4);
    }

    [Fact]
    public void Euler_10_steps_use_linspace_timesteps_999_to_0()
    {
        var euler = new EulerScheduler(Sd15);
        euler.SetTimesteps(10, 4);

        Assert.Equal([999f, 888f, 777f, 666f, 555f, 444f, 333f, 222f, 111f, 0f], euler.Timesteps.ToArray());
        Assert.Equal(1 / Math.Sqrt((Sd15Reference.Sigma(888) * Sd15Reference.Sigma(888)) + 1), euler.ModelInputScale(1), 1e-6);
    }

    [Fact]
    public void Ddim_50_steps_uses_leading_timesteps_981_to_1()
    {
        var ddim = new DdimScheduler(Sd15);
        ddim.SetTimesteps(50, 4);

        var expected = Enumerable.Range(0, 50).Select(i => (float)(981 - (20 * i))).ToArray();
        Assert.Equal(expected, ddim.Timesteps.ToArray());
        Assert.Equal(1f, ddim.InitNoiseSigma);
        Assert.Equal(1f, ddim.ModelInputScale(0));
    }

    [Fact]
    public void Ddim_trailing_10_steps_run_999_to_99()
    {
        var ddim = new DdimScheduler(Sd15 with { TimestepSpacing = TimestepSpacing.Trailing });
        ddim.SetTimesteps(10, 4);

        Assert.Equal([999f, 899f, 799f, 699f, 599f, 499f, 399f, 299f, 199f, 99f], ddim.Timesteps.ToArray());
    }

    [Fact]
    public void Pndm_50_steps_repeat_the_second_timestep_981_961_961_941_to_1()
    {
        var pndm = new PndmScheduler(Sd15);
        pndm.SetTimesteps(50, 4);

        var expected = new List<float> { 981, 961 };
        expected.AddRange(Enumerable.Range(0, 49).Select(i => (float)(961 - (20 * i))));
        Assert.Equal(51, pndm.Timesteps.Length);
        Assert.Equal(expected, pndm.Timesteps.ToArray());
    }

    [Fact]
    public void DpmPlusPlus2M_10_steps_use_rounded_linspace_without_zero()
    {
        var dpm = new DpmSolverMultistepScheduler(Sd15);
        dpm.SetTimesteps(10, 4);

        Assert.Equal(10, dpm.Timesteps.Length);
        Assert.Equal([999f, 899f, 799f], dpm.Timesteps[..3].ToArray());
        Assert.Equal(100f, dpm.Timesteps[^1]);
        Assert.Equal(1f, dpm.InitNoiseSigma);
        Assert.Equal(0f, dpm.Sigmas[^1]);
    }

    [Fact]
    public void Lcm_4_steps_pick_999_759_499_259_from_the_50_step_distillation_schedule()
    {
        var lcm = new LcmScheduler(Sd15);
        lcm.SetTimesteps(4, 4);

        Assert.Equal([999f, 759f, 499f, 259f], lcm.Timesteps.ToArray());
    }

    [Theory]
    [InlineData(SchedulerKind.Euler)]
    [InlineData(SchedulerKind.EulerAncestral)]
    [InlineData(SchedulerKind.Lms)]
    [InlineData(SchedulerKind.DpmPlusPlus2M)]
    public void Karras_sigmas_run_from_sigma_max_to_sigma_min_by_the_rho_7_formula(SchedulerKind kind)
    {
        const int Steps = 12;
        var scheduler = SchedulerFactory.Create(kind, Sd15, karrasSigmas: true);
        scheduler.SetTimesteps(Steps, 4);
        var sigmas = SigmasOf(scheduler);

        var sigmaMax = Sd15Reference.Sigma(999);
        var sigmaMin = Sd15Reference.Sigma(0);
        Assert.True(scheduler.KarrasSigmas);
        Assert.Equal(Steps + 1, sigmas.Length);
        Assert.Equal(sigmaMax, sigmas[0], 1e-3);
        Assert.Equal(sigmaMin, sigmas[Steps - 1], 1e-5);
        Assert.Equal(0f, sigmas[Steps]);
        for (var i = 0; i < Steps; i++)
        {
            Assert.True(sigmas[i + 1] < sigmas[i], $"sigma {i + 1} is not below sigma {i}.");
            var ramp = (double)i / (Steps - 1);
            var expected = Math.Pow(Math.Pow(sigmaMax, 1 / 7.0) + (ramp * (Math.Pow(sigmaMin, 1 / 7.0) - Math.Pow(sigmaMax, 1 / 7.0))), 7);
            Assert.Equal(expected, sigmas[i], expected * 1e-5);
        }

        // Timesteps come back from sigma by log-sigma interpolation: first 999, last 0, each between its neighbours.
        Assert.Equal(999.0, scheduler.Timesteps[0], 1e-3);
        Assert.Equal(0.0, scheduler.Timesteps[^1], 1e-3);
        for (var i = 1; i < Steps - 1; i++)
        {
            var exact = TimestepOfSigma(sigmas[i]);
            if (kind == SchedulerKind.DpmPlusPlus2M)
            {
                Assert.Equal(Math.Round(exact), scheduler.Timesteps[i]); // DPM++ rounds its timesteps, as diffusers does.
            }
            else
            {
                Assert.Equal(exact, scheduler.Timesteps[i], 1e-2);
            }
        }
    }

    /// <summary>The fractional t whose log sigma, interpolated linearly between integer timesteps, equals ln(sigma).</summary>
    private static double TimestepOfSigma(double sigma)
    {
        var target = Math.Log(sigma);
        for (var t = 0; t < 999; t++)
        {
            var low = Math.Log(Sd15Reference.Sigma(t));
            var high = Math.Log(Sd15Reference.Sigma(t + 1));
            if (target >= low && target <= high)
            {
                return t + ((target - low) / (high - low));
            }
        }

        throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "Outside the training schedule.");
    }

    [Fact]
    public void Zero_snr_rescaling_is_read_by_euler_and_dpm_but_not_by_lms_and_pndm()
    {
        var zeroSnr = Sd15 with { RescaleBetasZeroSnr = true, PredictionType = PredictionType.VPrediction, TimestepSpacing = TimestepSpacing.Trailing };
        var euler = new EulerScheduler(zeroSnr);
        var dpm = new DpmSolverMultistepScheduler(zeroSnr);
        var lms = new LmsScheduler(zeroSnr);
        euler.SetTimesteps(10, 4);
        dpm.SetTimesteps(10, 4);
        lms.SetTimesteps(10, 4);

        // Rescaled, the last timestep's acp is diffusers' 2^-24: sigma 4096. LMSDiscreteScheduler has no such key.
        Assert.Equal(4096.0, euler.Sigmas[0], 1e-2);
        Assert.Equal(4096.0, dpm.Sigmas[0], 1e-2);
        Assert.Equal(14.6146, lms.Sigmas[0], 1e-3);
        Assert.Equal(14.6146, lms.InitNoiseSigma, 1e-3);
    }

    [Fact]
    public void Pndm_ignores_zero_snr_rescaling_and_stays_finite()
    {
        var zeroSnr = Sd15 with { RescaleBetasZeroSnr = true, PredictionType = PredictionType.VPrediction, TimestepSpacing = TimestepSpacing.Trailing };
        var pndm = new PndmScheduler(zeroSnr);
        pndm.SetTimesteps(10, Sd15Reference.Sample.Length);
        var sample = Sd15Reference.ToFloats(Sd15Reference.Sample);
        for (var i = 0; i < pndm.Timesteps.Length; i++)
        {
            pndm.Step(Sd15Reference.ToFloats(Sd15Reference.ModelOutputForStep(i)), i, sample, new Numerics.NoiseGenerator(0));
            Assert.All(sample, v => Assert.True(float.IsFinite(v), $"step {i} gave {v}"));
        }

        // The first step transfers from the unrescaled acp(999), as with the config's rescaling off.
        var plain = new PndmScheduler(zeroSnr with { RescaleBetasZeroSnr = false });
        plain.SetTimesteps(10, 4);
        Assert.Equal(plain.Timesteps.ToArray(), pndm.Timesteps.ToArray());
    }

    [Fact]
    public void DpmPlusPlus2M_karras_truncates_timesteps_with_cosine_betas_and_rounds_otherwise()
    {
        var cosine = SchedulerConfig.Parse("""{"beta_schedule": "squaredcos_cap_v2"}""");
        var dpm = new DpmSolverMultistepScheduler(cosine, karrasSigmas: true);
        dpm.SetTimesteps(7, 4);

        // log-sigma interpolation gives 999, 998.68, 998.29, 997.11, 983.29, 682.20, 0; diffusers keeps their integer part.
        Assert.Equal([999f, 998f, 998f, 997f, 983f, 682f, 0f], dpm.Timesteps.ToArray());

        var sd15 = new DpmSolverMultistepScheduler(Sd15, karrasSigmas: true);
        sd15.SetTimesteps(7, 4);
        Assert.Equal([999f, 868f, 687f, 427f, 146f, 18f, 0f], sd15.Timesteps.ToArray());
    }

    [Theory]
    [InlineData(SchedulerKind.Ddim)]
    [InlineData(SchedulerKind.Pndm)]
    [InlineData(SchedulerKind.Lcm)]
    public void Karras_sigmas_on_a_discrete_timestep_scheduler_throw(SchedulerKind kind)
    {
        var error = Assert.Throws<ArgumentException>(() => SchedulerFactory.Create(kind, Sd15, karrasSigmas: true));
        Assert.Contains("Karras", error.Message, StringComparison.Ordinal);
    }

    private static float[] SigmasOf(IScheduler scheduler) => scheduler switch
    {
        EulerScheduler euler => euler.Sigmas.ToArray(),
        EulerAncestralScheduler ancestral => ancestral.Sigmas.ToArray(),
        LmsScheduler lms => lms.Sigmas.ToArray(),
        DpmSolverMultistepScheduler dpm => dpm.Sigmas.ToArray(),
        _ => throw new ArgumentException("Not a sigma-space scheduler.", nameof(scheduler)),
    };
}
