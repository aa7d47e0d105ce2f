using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// Each scheduler reads its diffusers class's keys with that class's defaults, ignores the keys the class does not
/// have, and refuses, naming the key, a value the class reads that the engine does not implement.
/// </summary>
public sealed class ClassKeyTests
{
    private const int Steps = 8;

    [Theory]
    [InlineData("ddim", """{"clip_sample": true}""")]
    [InlineData("ddim", """{"set_alpha_to_one": true}""")]
    [InlineData("ddim", """{"timestep_spacing": "leading"}""")]
    [InlineData("pndm", """{"set_alpha_to_one": false}""")]
    [InlineData("pndm", """{"skip_prk_steps": false}""")]
    [InlineData("lcm", """{"clip_sample": false}""")]
    [InlineData("lcm", """{"set_alpha_to_one": true}""")]
    [InlineData("lcm", """{"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}""")]
    [InlineData("euler", """{"beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear", "timestep_spacing": "linspace"}""")]
    [InlineData("dpmpp_2m", """{"solver_type": "midpoint", "final_sigmas_type": "zero", "lower_order_final": true}""")]
    public void A_missing_key_takes_the_class_default(string name, string explicitDefault)
    {
        Assert.Equal(Run(name, explicitDefault), Run(name, "{}"));
    }

    [Theory]
    [InlineData("ddim", """{"clip_sample": false}""")]
    [InlineData("ddim", """{"set_alpha_to_one": false}""")]
    [InlineData("pndm", """{"set_alpha_to_one": true}""")]
    [InlineData("lcm", """{"clip_sample": true}""")]
    [InlineData("lcm", """{"beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear"}""")]
    public void The_other_value_of_a_class_default_changes_the_result(string name, string otherValue)
    {
        // Without this, the test above could pass for a key that has no effect.
        Assert.NotEqual(Run(name, otherValue), Run(name, "{}"));
    }

    [Theory]
    [InlineData("pndm", """{"rescale_betas_zero_snr": true, "clip_sample": true, "use_karras_sigmas": true, "thresholding": true}""")]
    [InlineData("lms", """{"rescale_betas_zero_snr": true, "interpolation_type": "log_linear", "final_sigmas_type": "sigma_min", "sigma_max": 2.0, "variance_type": "learned"}""")]
    [InlineData("euler_a", """{"use_karras_sigmas": true, "use_beta_sigmas": true, "interpolation_type": "cubic", "timestep_type": "continuous", "final_sigmas_type": "sigma_min", "thresholding": true}""")]
    [InlineData("ddim", """{"use_beta_sigmas": true, "skip_prk_steps": false, "solver_type": "rk4", "use_karras_sigmas": true, "original_inference_steps": 20}""")]
    [InlineData("lcm", """{"timestep_spacing": "trailing", "steps_offset": 1, "use_flow_sigmas": true, "variance_type": "learned_range"}""")]
    [InlineData("dpmpp_2m", """{"clip_sample": true, "set_alpha_to_one": true, "interpolation_type": "cubic", "timestep_type": "continuous", "sigma_min": 0.5, "sigma_max": 2.0}""")]
    [InlineData("dpmpp_2m", """{"algorithm_type": "sde-dpmsolver++", "solver_order": 3}""")]
    public void Keys_the_class_does_not_read_are_ignored(string name, string unread)
    {
        Assert.Equal(Run(name, "{}"), Run(name, unread));
    }

    [Theory]
    [InlineData("euler", """{"use_beta_sigmas": true}""", "use_beta_sigmas")]
    [InlineData("lms", """{"use_beta_sigmas": true}""", "use_beta_sigmas")]
    [InlineData("dpmpp_2m", """{"use_beta_sigmas": true}""", "use_beta_sigmas")]
    [InlineData("dpmpp_2m", """{"variance_type": "learned_range"}""", "variance_type")]
    [InlineData("dpmpp_2m", """{"use_flow_sigmas": true}""", "use_flow_sigmas")]
    [InlineData("dpmpp_2m", """{"solver_type": "rk4"}""", "solver_type")]
    [InlineData("dpmpp_2m", """{"final_sigmas_type": "max"}""", "final_sigmas_type")]
    [InlineData("euler", """{"interpolation_type": "cubic"}""", "interpolation_type")]
    [InlineData("euler", """{"timestep_type": "random"}""", "timestep_type")]
    [InlineData("euler", """{"use_karras_sigmas": true, "use_exponential_sigmas": true}""", "use_exponential_sigmas")]
    public void A_value_the_class_reads_but_the_engine_lacks_is_refused_naming_the_key(string name, string json, string key)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var error = Assert.ThrowsAny<ArgumentException>(() => SchedulerFactory.Create(kind, SchedulerConfig.Parse(json), karras));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Solver_types_of_other_solvers_run_as_midpoint_as_in_diffusers()
    {
        Assert.Equal(Run("dpmpp_2m", """{"solver_type": "midpoint"}"""), Run("dpmpp_2m", """{"solver_type": "bh2"}"""));
        Assert.NotEqual(Run("dpmpp_2m", """{"solver_type": "midpoint"}"""), Run("dpmpp_2m", """{"solver_type": "heun"}"""));
    }

    [Theory]
    [InlineData("euler_karras", """{"use_exponential_sigmas": true}""")]
    [InlineData("lms_karras", """{"use_beta_sigmas": true}""")]
    [InlineData("dpmpp_2m_karras", """{"use_lu_lambdas": true, "use_exponential_sigmas": true}""")]
    public void A_karras_name_overrides_the_config_s_sigma_choice(string name, string json)
    {
        Assert.Equal(Run(name, """{"use_karras_sigmas": true}"""), Run(name, json));
    }

    /// <summary>A short run from a fixed sample: timesteps, init sigma and every sample, as one comparable string.</summary>
    private static string Run(string name, string json)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var scheduler = SchedulerFactory.Create(kind, SchedulerConfig.Parse(json), karras);
        scheduler.SetTimesteps(Steps, 6);
        var sample = Sd15Reference.ToFloats(Sd15Reference.Sample);
        var noise = new NoiseGenerator(21);
        var trace = new List<string> { string.Join(",", scheduler.Timesteps.ToArray()), scheduler.InitNoiseSigma.ToString("R") };
        for (var i = 0; i < scheduler.Timesteps.Length; i++)
        {
            // An output that changes from step to step, so that multistep history matters.
            scheduler.Step(Sd15Reference.ToFloats(Sd15Reference.ModelOutputForStep(i)), i, sample, noise);
            trace.Add(string.Join(",", sample.Select(v => v.ToString("R"))));
        }

        return string.Join(" | ", trace);
    }
}
