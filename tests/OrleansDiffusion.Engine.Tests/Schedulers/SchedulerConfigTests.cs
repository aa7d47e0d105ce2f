using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

public sealed class SchedulerConfigTests
{
    // The scheduler_config.json that runwayml/stable-diffusion-v1-5 ships.
    private const string Sd15Json = """
        {
          "_class_name": "PNDMScheduler",
          "_diffusers_version": "0.6.0",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "num_train_timesteps": 1000,
          "set_alpha_to_one": false,
          "skip_prk_steps": true,
          "steps_offset": 1,
          "trained_betas": null,
          "clip_sample": false
        }
        """;

    [Fact]
    public void Parsing_the_sd15_file_gives_the_built_in_sd15_config()
    {
        var config = SchedulerConfig.Parse(Sd15Json);

        Assert.Equal(SchedulerConfig.StableDiffusion15, config);
        Assert.Equal(SchedulerKind.Pndm, SchedulerFactory.DefaultFor(config));
        Assert.Null(config.TimestepSpacing);
    }

    [Fact]
    public void Missing_keys_whose_default_depends_on_the_class_stay_unset()
    {
        var config = SchedulerConfig.Parse("{}");

        Assert.Null(config.ClassName);
        Assert.Null(config.BetaStart);
        Assert.Null(config.BetaEnd);
        Assert.Null(config.BetaSchedule);
        Assert.Null(config.SetAlphaToOne);
        Assert.Null(config.ClipSample);
        Assert.Null(config.TimestepSpacing);
        Assert.Null(config.InterpolationType);
        Assert.Null(config.TimestepType);
        Assert.Null(config.FinalSigmasType);
        Assert.Null(config.SolverType);
        Assert.Null(config.SigmaMin);
        Assert.Null(config.SigmaMax);
        Assert.Null(config.VarianceType);
        Assert.Null(config.TrainedBetas);
    }

    [Fact]
    public void Missing_keys_with_one_default_in_every_class_take_it()
    {
        var config = SchedulerConfig.Parse("{}");

        Assert.Equal(1000, config.NumTrainTimesteps);
        Assert.Equal(0, config.StepsOffset);
        Assert.False(config.SkipPrkSteps);
        Assert.Equal(1.0, config.ClipSampleRange);
        Assert.False(config.Thresholding);
        Assert.Equal(0.995, config.DynamicThresholdingRatio);
        Assert.Equal(1.0, config.SampleMaxValue);
        Assert.Equal(PredictionType.Epsilon, config.PredictionType);
        Assert.False(config.UseKarrasSigmas);
        Assert.False(config.UseExponentialSigmas);
        Assert.False(config.UseBetaSigmas);
        Assert.False(config.UseLuLambdas);
        Assert.False(config.UseFlowSigmas);
        Assert.True(config.LowerOrderFinal);
        Assert.False(config.EulerAtFinal);
        Assert.Equal(double.NegativeInfinity, config.LambdaMinClipped);
        Assert.False(config.RescaleBetasZeroSnr);
        Assert.Equal(50, config.OriginalInferenceSteps);
        Assert.Equal(10.0, config.TimestepScaling);
    }

    [Fact]
    public void Sdxl_and_lcm_style_keys_are_read_and_unknown_keys_ignored()
    {
        var config = SchedulerConfig.Parse("""
            {
              "_class_name": "LCMScheduler", "prediction_type": "v_prediction", "timestep_spacing": "trailing",
              "use_karras_sigmas": true, "rescale_betas_zero_snr": true, "original_inference_steps": 100,
              "timestep_scaling": 5.0, "beta_schedule": "squaredcos_cap_v2", "interpolation_type": "linear",
              "sample_max_value": 1.0, "num_train_timesteps": 1000.0, "flow_shift": 3.0, "use_dynamic_shifting": false
            }
            """);

        Assert.Equal("LCMScheduler", config.ClassName);
        Assert.Equal(PredictionType.VPrediction, config.PredictionType);
        Assert.Equal(TimestepSpacing.Trailing, config.TimestepSpacing);
        Assert.True(config.UseKarrasSigmas);
        Assert.True(config.RescaleBetasZeroSnr);
        Assert.Equal(100, config.OriginalInferenceSteps);
        Assert.Equal(5.0, config.TimestepScaling);
        Assert.Equal(BetaSchedule.SquaredCosCapV2, config.BetaSchedule);
        Assert.Equal("linear", config.InterpolationType);
    }

    [Fact]
    public void Euler_and_dpm_solver_keys_are_read()
    {
        var config = SchedulerConfig.Parse("""
            {
              "_class_name": "DPMSolverMultistepScheduler", "solver_type": "heun", "final_sigmas_type": "sigma_min",
              "lower_order_final": false, "euler_at_final": true, "lambda_min_clipped": -5.1, "use_lu_lambdas": true,
              "use_exponential_sigmas": true, "use_beta_sigmas": true, "use_flow_sigmas": true, "variance_type": "learned_range",
              "thresholding": true, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 2.0, "sigma_min": 0.002,
              "sigma_max": 700.0, "timestep_type": "continuous", "interpolation_type": "log_linear"
            }
            """);

        Assert.Equal("heun", config.SolverType);
        Assert.Equal("sigma_min", config.FinalSigmasType);
        Assert.False(config.LowerOrderFinal);
        Assert.True(config.EulerAtFinal);
        Assert.Equal(-5.1, config.LambdaMinClipped);
        Assert.True(config.UseLuLambdas);
        Assert.True(config.UseExponentialSigmas);
        Assert.True(config.UseBetaSigmas);
        Assert.True(config.UseFlowSigmas);
        Assert.Equal("learned_range", config.VarianceType);
        Assert.True(config.Thresholding);
        Assert.Equal(0.9, config.DynamicThresholdingRatio);
        Assert.Equal(2.0, config.SampleMaxValue);
        Assert.Equal(0.002, config.SigmaMin);
        Assert.Equal(700.0, config.SigmaMax);
        Assert.Equal("continuous", config.TimestepType);
        Assert.Equal("log_linear", config.InterpolationType);
    }

    [Fact]
    public void Python_infinity_and_nan_literals_written_by_diffusers_are_read_as_numbers()
    {
        // diffusers saves configs with Python's json module, which writes -Infinity for lambda_min_clipped's default.
        var config = SchedulerConfig.Parse("""
            {"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "solver_type": "midpoint -Infinity NaN"}
            """);

        Assert.Equal(double.NegativeInfinity, config.LambdaMinClipped);
        Assert.Equal("midpoint -Infinity NaN", config.SolverType);
        var nan = Assert.Throws<InvalidDataException>(() => SchedulerConfig.Parse("""{"beta_start": NaN}"""));
        Assert.Contains("beta_start", nan.Message, StringComparison.Ordinal);
        var infinity = Assert.Throws<InvalidDataException>(() => SchedulerConfig.Parse("""{"lambda_min_clipped": Infinity}"""));
        Assert.Contains("lambda_min_clipped", infinity.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"beta_schedule": "cubic"}""", "beta_schedule")]
    [InlineData("""{"prediction_type": "x0"}""", "prediction_type")]
    [InlineData("""{"timestep_spacing": "random"}""", "timestep_spacing")]
    [InlineData("""{"num_train_timesteps": "many"}""", "num_train_timesteps")]
    [InlineData("""{"steps_offset": 0.5}""", "steps_offset")]
    [InlineData("""{"set_alpha_to_one": 1}""", "set_alpha_to_one")]
    [InlineData("""{"trained_betas": [0.1, 0.2]}""", "trained_betas")]
    [InlineData("""{"beta_end": 1.5}""", "beta_end")]
    [InlineData("""{"lambda_min_clipped": "low"}""", "lambda_min_clipped")]
    [InlineData("""{"dynamic_thresholding_ratio": 1.5}""", "dynamic_thresholding_ratio")]
    [InlineData("""{"sample_max_value": 0}""", "sample_max_value")]
    [InlineData("""{"sigma_min": -1}""", "sigma_min")]
    [InlineData("""{"sigma_min": 1.0, "sigma_max": 0.5}""", "sigma_max")]
    [InlineData("""{"use_beta_sigmas": "yes"}""", "use_beta_sigmas")]
    [InlineData("""{"beta_start": NaN,""", "JSON")]
    [InlineData("""{"beta_start": 0.1,""", "JSON")]
    [InlineData("""[1, 2]""", "object")]
    public void Invalid_values_throw_invalid_data_naming_the_problem(string json, string named)
    {
        var error = Assert.Throws<InvalidDataException>(() => SchedulerConfig.Parse(json));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_reads_a_file_and_names_it_when_it_is_malformed()
    {
        var directory = Directory.CreateTempSubdirectory("scheduler-config");
        try
        {
            var good = Path.Combine(directory.FullName, "scheduler_config.json");
            File.WriteAllText(good, Sd15Json);
            Assert.Equal(SchedulerConfig.StableDiffusion15, SchedulerConfig.Load(good));

            var bad = Path.Combine(directory.FullName, "broken_config.json");
            File.WriteAllText(bad, """{"beta_schedule": "quadratic"}""");
            var error = Assert.Throws<InvalidDataException>(() => SchedulerConfig.Load(bad));
            Assert.Contains(bad, error.Message, StringComparison.Ordinal);
            Assert.Contains("beta_schedule", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
