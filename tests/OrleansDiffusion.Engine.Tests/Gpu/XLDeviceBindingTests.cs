using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.Pipeline;
using OrleansDiffusion.Engine.Tests.XL;

namespace OrleansDiffusion.Engine.Tests.Gpu;

/// <summary>SDXL's extra step-invariant inputs (<c>text_embeds</c>, <c>time_ids</c>) through the device binding protocol on CPU.</summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class XLDeviceBindingTests(XLDemoModels models)
{
    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void The_device_bound_SDXL_UNet_gives_the_image_of_the_host_bound_one(DemoModelFlavor flavor)
    {
        var host = models.Get(flavor);
        using var device = DiffusionModel.Load(models.PathOf(flavor), new ExecutionOptions { IntraOpThreads = 1, BindAsDevice = true });
        var request = new GenerationRequest { Prompt = "a lighthouse at dusk", NegativePrompt = "fog", Steps = 4, GuidanceScale = 5f, Seed = 3, Width = 64, Height = 96 };

        var expected = new DiffusionPipeline(host).Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var actual = new DiffusionPipeline(device).Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        Assert.Equal(expected, actual);
        Assert.True(PngPixels.LumaSpread(actual) > 1, "a picture, not a flat colour");
    }
}
