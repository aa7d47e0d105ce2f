using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.Pipeline;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>SDXL exports run end to end on the engine: every flavour, the added conditioning, the VAE, Turbo.</summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class XLPipelineTests(XLDemoModels models)
{
    private static GenerationRequest Small(string prompt = "a red fox in the snow", long seed = 42) => new()
    {
        Prompt = prompt,
        NegativePrompt = "blurry",
        Steps = 4,
        GuidanceScale = 7.5f,
        Seed = seed,
        Width = 64,
        Height = 64,
    };

    public static TheoryData<DemoModelFlavor> Flavors() => new(XLDemoModels.Flavors);

    [Theory]
    [MemberData(nameof(Flavors))]
    public void Every_SDXL_export_flavour_generates_the_picture_of_the_float32_export(DemoModelFlavor flavor)
    {
        var reference = new DiffusionPipeline(models.Get()).Generate(Small() with { Width = 96 }, cancellationToken: TestContext.Current.CancellationToken).Images[0];

        var image = new DiffusionPipeline(models.Get(flavor)).Generate(Small() with { Width = 96 }, cancellationToken: TestContext.Current.CancellationToken).Images[0];

        PngPixels.Decode(image.Png, out var width, out var height);
        Assert.Equal((96, 64), (width, height));
        Assert.True(PngPixels.LumaSpread(image.Png) > 1, "a picture, not a flat colour");
        Assert.StartsWith("a red fox in the snow\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 96x64", image.Infotext, StringComparison.Ordinal);
        var difference = PngPixels.MeanDifference(reference.Png, image.Png);
        Assert.True(difference < 2.0, $"{flavor} differs from the float32 export by {difference}");
    }

    [Fact]
    public void A_float16_SDXL_VAE_is_run_in_float32_unless_its_config_clears_force_upcast()
    {
        var folder = models.WriteCopy(DemoModelFlavor.OptimumFp16);
        foreach (var vae in new[] { "vae_decoder", "vae_encoder" })
        {
            var config = Path.Combine(folder, vae, "config.json");
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"force_upcast\": true", "\"force_upcast\": false", StringComparison.Ordinal));
        }

        using var asExported = DiffusionModel.Load(folder, new ExecutionOptions { IntraOpThreads = 1 });
        var upcast = models.Get(DemoModelFlavor.OptimumFp16);

        Assert.True(upcast.VaeDecoder.IsUpcast);
        Assert.Equal(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, upcast.DecoderInput.ElementType);
        Assert.False(asExported.VaeDecoder.IsUpcast);
        Assert.Equal(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16, asExported.DecoderInput.ElementType);
        var error = Assert.Throws<InvalidModelException>(() => new DiffusionPipeline(asExported).Generate(Small(), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("overflows in float16", error.Message, StringComparison.Ordinal);
        Assert.Single(new DiffusionPipeline(upcast).Generate(Small(), cancellationToken: TestContext.Current.CancellationToken).Images);
    }

    [Fact]
    public void The_fp16_fix_VAE_and_float32_VAEs_run_as_exported()
    {
        Assert.False(models.Get(DemoModelFlavor.OliveFp16).VaeDecoder.IsUpcast);
        Assert.False(models.Get(DemoModelFlavor.OliveFp16).Folder.VaeForceUpcast);
        Assert.False(models.Get(DemoModelFlavor.Optimum).VaeDecoder.IsUpcast);
        Assert.True(models.Get(DemoModelFlavor.Optimum).Folder.VaeForceUpcast);
    }
}
