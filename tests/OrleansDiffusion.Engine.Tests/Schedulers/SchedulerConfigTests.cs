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
    public void Missing_keys_take_the_diffusers_defaults()
    {
        var config = SchedulerConfig.Parse("{}");

        Assert.Null(config.ClassName);
        Assert.Equal(1000, config.NumTrainTimesteps);
        Assert.Equal(0.0001, config.BetaStart);
        Assert.Equal(0.02, config.BetaEnd);
        Assert.Equal(BetaSchedule.Linear, config.BetaSchedule);
        Assert.Null(config.TrainedBetas);
        Assert.Equal(0, config.StepsOffset);
        Assert.True(config.SetAlphaToOne);
        Assert.False(config.SkipPrkSteps);
        Assert.False(config.ClipSample);
        Assert.Equal(1.0, config.ClipSampleRange);
        Assert.Equal(PredictionType.Epsilon, config.PredictionType);
        Assert.False(config.UseKarrasSigmas);
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
              "sample_max_value": 1.0, "num_train_timesteps": 1000.0
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
