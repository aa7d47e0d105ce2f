using Microsoft.Extensions.Logging.Abstractions;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Models;

/// <summary>
/// The catalog resolves a request's scheduler as the model's diffusers class would (which keys apply to which class)
/// and refuses at submission what that scheduler cannot run with the model's config.
/// </summary>
public sealed class ModelCatalogSchedulerTests
{
    [Theory]
    [InlineData("EulerAncestralDiscreteScheduler", "euler_a")]
    [InlineData("EulerDiscreteScheduler", "euler_karras")]
    [InlineData("DPMSolverMultistepScheduler", "dpmpp_2m_karras")]
    [InlineData("DDIMScheduler", "ddim")]
    public void The_default_scheduler_takes_use_karras_sigmas_only_where_its_class_reads_it(string className, string expected)
    {
        using var model = ModelWith($$"""{"_class_name": "{{className}}", "use_karras_sigmas": true, "clip_sample": false}""");

        var normalized = model.Catalog.Normalize(new GenerationSpec { Prompt = "a lighthouse" });

        Assert.Equal(expected, normalized.Scheduler);
    }

    [Fact]
    public void Pndm_with_runge_kutta_warm_up_refuses_fewer_than_four_steps_at_submission()
    {
        // No skip_prk_steps: PNDMScheduler's default, the Runge-Kutta warm-up.
        using var model = ModelWith("""{"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}""");

        var error = Assert.Throws<ArgumentException>(() => model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Steps = 3 }));

        Assert.Contains("at least 4 steps", error.Message, StringComparison.Ordinal);
        Assert.Contains("'pndm'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("inferenceSteps", error.Message, StringComparison.Ordinal);
        Assert.Equal("pndm", model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Steps = 4 }).Scheduler);
        Assert.Equal("euler", model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Steps = 3, Scheduler = "euler" }).Scheduler);
    }

    [Fact]
    public void Lcm_refuses_more_steps_than_its_distillation_schedule_at_submission()
    {
        using var model = ModelWith("""{"_class_name": "LCMScheduler", "original_inference_steps": 50}""");

        var error = Assert.Throws<ArgumentException>(() => model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Steps = 60 }));

        Assert.Contains("original_inference_steps", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_value_the_scheduler_reads_but_the_engine_lacks_is_refused_naming_the_key_and_other_schedulers_run()
    {
        using var model = ModelWith("""{"_class_name": "DPMSolverMultistepScheduler", "use_beta_sigmas": true}""");

        var error = Assert.Throws<ArgumentException>(() => model.Catalog.Normalize(new GenerationSpec { Prompt = "a" }));

        Assert.Contains("use_beta_sigmas", error.Message, StringComparison.Ordinal);
        Assert.Equal("ddim", model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Scheduler = "ddim" }).Scheduler);
        Assert.Equal("dpmpp_2m_karras", model.Catalog.Normalize(new GenerationSpec { Prompt = "a", Scheduler = "dpmpp_2m_karras" }).Scheduler);
    }

    private static CatalogFixture ModelWith(string schedulerConfig)
    {
        var directory = new TempDirectory();
        DemoModelWriter.Write(directory.Path);
        File.WriteAllText(directory.Combine("scheduler", "scheduler_config.json"), schedulerConfig);
        var options = new DiffusionOptions { Models = [new ModelOptions { Id = "model", Path = directory.Path }] };
        return new CatalogFixture(directory, new ModelCatalog(options, NullLogger.Instance));
    }

    private sealed class CatalogFixture(TempDirectory directory, ModelCatalog catalog) : IDisposable
    {
        public ModelCatalog Catalog => catalog;

        public void Dispose() => directory.Dispose();
    }
}
