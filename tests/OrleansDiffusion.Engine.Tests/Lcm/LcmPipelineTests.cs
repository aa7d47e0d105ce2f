using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Lcm;

/// <summary>
/// An LCM UNet (one with <c>timestep_cond</c>) runs without the unconditional pass: the guidance goes in as diffusers'
/// guidance-scale embedding. The demo LCM UNet applies the guidance it reads from the embedding as classifier-free
/// guidance against the empty prompt would, so an LCM run must give the image a guided run of the plain UNet gives.
/// </summary>
[Collection(DemoModelVariantCollection.Name)]
public sealed class LcmPipelineTests(DemoModelVariants models)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static GenerationRequest Request(float guidance, string negative = "") => new()
    {
        Prompt = "a lighthouse at dusk",
        NegativePrompt = negative,
        Steps = 4,
        GuidanceScale = guidance,
        Seed = 7,
        Width = 64,
        Height = 64,
        Scheduler = SchedulerKind.Lcm,
    };

    // The plain UNet with the LCM export's scheduler configuration, so that both runs take the same steps.
    private Engine.Models.DiffusionModel Plain()
    {
        _ = LcmModel();
        return models.Get("plain-with-lcm-scheduler", new DemoModelOptions(), path =>
            File.Copy(Path.Combine(models.PathOf("lcm"), "scheduler", "scheduler_config.json"), Path.Combine(path, "scheduler", "scheduler_config.json"), overwrite: true));
    }

    private Engine.Models.DiffusionModel LcmModel() => models.Get("lcm", DemoModelVariants.Lcm);

    [Theory]
    [InlineData(4f)]
    [InlineData(8.5f)]
    public void An_lcm_unet_with_the_guidance_embedding_computes_what_guidance_with_an_unconditional_pass_computes(float guidance)
    {
        var lcm = new DiffusionPipeline(LcmModel()).Generate(Request(guidance), cancellationToken: Ct);
        var guided = new DiffusionPipeline(Plain()).Generate(Request(guidance), cancellationToken: Ct);
        var unguided = new DiffusionPipeline(Plain()).Generate(Request(1f), cancellationToken: Ct);

        Assert.True(PngPixels.MeanDifference(lcm.Images[0].Png, guided.Images[0].Png) < 0.5, "the embedding carries the guidance scale");
        Assert.True(PngPixels.MeanDifference(lcm.Images[0].Png, unguided.Images[0].Png) > 2, "and the guidance shows");
    }

    [Fact]
    public void An_lcm_unet_ignores_the_negative_prompt_and_runs_one_pass_per_image()
    {
        var pipeline = new DiffusionPipeline(LcmModel());

        var plain = pipeline.Generate(Request(8.5f), cancellationToken: Ct);
        var negative = pipeline.Generate(Request(8.5f, negative: "a purple sky"), cancellationToken: Ct);

        Assert.Equal(PngPixels.Decode(plain.Images[0].Png, out _, out _), PngPixels.Decode(negative.Images[0].Png, out _, out _));
        Assert.Contains("CFG scale: 8.5", plain.Images[0].Infotext, StringComparison.Ordinal);
    }

    [Fact]
    public void An_lcm_unet_traced_with_batch_one_runs_because_there_is_no_cfg_batch()
    {
        // Exporters that fix the batch axis trace an LCM UNet with batch 1; a CFG batch of 2 would not fit.
        var model = models.Get("lcm-batch-one", DemoModelVariants.Lcm, path => OnnxBatch.Fix(Path.Combine(path, "unet", "model.onnx"), 1));
        Assert.Equal(1, model.UNetSig.FixedBatch);

        var result = new DiffusionPipeline(model).Generate(Request(8.5f), cancellationToken: Ct);

        Assert.True(PngPixels.LumaSpread(result.Images[0].Png) > 1);
    }

    [Fact]
    public void An_lcm_unet_defaults_to_the_lcm_scheduler_whatever_its_folder_names()
    {
        _ = models.Get("plain", new DemoModelOptions());
        var model = models.Get("lcm-with-pndm-config", DemoModelVariants.Lcm, path =>
            File.Copy(Path.Combine(models.PathOf("plain"), "scheduler", "scheduler_config.json"), Path.Combine(path, "scheduler", "scheduler_config.json"), overwrite: true));

        var result = new DiffusionPipeline(model).Generate(Request(8.5f) with { Scheduler = null }, cancellationToken: Ct);

        Assert.Contains("Sampler: LCM", result.Images[0].Infotext, StringComparison.Ordinal);
        Assert.True(model.UNetSig.Kind.Lcm);
    }

    [Fact]
    public void The_guidance_embedding_is_diffusers_get_guidance_scale_embedding_of_w_minus_one()
    {
        var embedding = new float[256];

        GuidanceEmbedding.Write(8.5f, embedding);

        // w = 7.5, x = 7500; f_0 = 1 and f_127 = 1e-4.
        Assert.Equal(MathF.Sin(7500f), embedding[0], 5);
        Assert.Equal(MathF.Cos(7500f), embedding[128], 5);
        Assert.Equal(MathF.Sin(0.75f), embedding[127], 5);
        Assert.Equal(MathF.Cos(0.75f), embedding[255], 5);
        var odd = new float[7];
        GuidanceEmbedding.Write(1f, odd);
        Assert.Equal([0f, 0f, 0f, 1f, 1f, 1f, 0f], odd); // w = 0: sin 0, cos 1, and the odd width's zero pad
    }
}
