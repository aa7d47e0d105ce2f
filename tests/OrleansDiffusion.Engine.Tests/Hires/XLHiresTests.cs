using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.Pipeline;
using OrleansDiffusion.Engine.Tests.XL;

namespace OrleansDiffusion.Engine.Tests.Hires;

/// <summary>The hires fix on an SDXL export: its second pass runs with the added conditioning at the hires size.</summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class XLHiresTests(XLDemoModels models)
{
    private static GenerationRequest Small(SizeConditioning? size = null) => new()
    {
        Prompt = "a red fox in the snow",
        Steps = 3,
        GuidanceScale = 7.5f,
        Seed = 42,
        Width = 64,
        Height = 64,
        SizeConditioning = size,
        Hires = new HiresFix { Scale = 1.5f, Steps = 2, Strength = 0.6f },
    };

    [Fact]
    public void An_SDXL_model_runs_the_second_pass_at_the_hires_size()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var result = pipeline.Generate(Small(), cancellationToken: TestContext.Current.CancellationToken);
        var again = pipeline.Generate(Small(SizeConditioning.Default(64, 64)), cancellationToken: TestContext.Current.CancellationToken);
        var ownConditioning = pipeline.Generate(Small(new SizeConditioning(32, 32, 0, 0, 64, 64)), cancellationToken: TestContext.Current.CancellationToken);

        var image = Assert.Single(result.Images);
        PngPixels.Decode(image.Png, out var width, out var height);
        Assert.Equal((96, 96), (width, height));
        Assert.Equal(5, result.Timings.DenoisingSteps);
        Assert.True(PngPixels.LumaSpread(image.Png) > 1, "a picture, not a flat colour");
        Assert.Contains("Hires upscale: 1.5, Hires steps: 2, Hires upscaler: Latent", image.Infotext, StringComparison.Ordinal);

        // The default conditioning, given or not, is one request; a size conditioning of the caller's own is kept.
        Assert.Equal(image.Png, again.Images[0].Png);
        Assert.NotEqual(image.Png, ownConditioning.Images[0].Png);
    }
}
