using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Inpainting;
using OrleansDiffusion.Engine.Tests.Pipeline;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Gpu;

/// <summary>
/// The UNet variants through the device binding protocol on CPU: LCM's <c>timestep_cond</c> (bound once), an
/// inpainting UNet's 9-channel sample (mask and masked-image latents written once, rebound with the latents every step).
/// </summary>
[Collection(DemoModelVariantCollection.Name)]
public sealed class VariantDeviceBindingTests(DemoModelVariants models)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly GenerationRequest Base = new()
    {
        Prompt = "a blue whale",
        Steps = 4,
        GuidanceScale = 5f,
        Seed = 21,
        Width = 64,
        Height = 64,
    };

    [Fact]
    public void An_LCM_UNet_bound_on_the_device_gives_the_host_bound_image()
    {
        var host = models.Get("lcm", DemoModelVariants.Lcm);
        using var device = DiffusionModel.Load(models.PathOf("lcm"), new ExecutionOptions { IntraOpThreads = 1, BindAsDevice = true });
        var request = Base with { Scheduler = SchedulerKind.Lcm, GuidanceScale = 8f };

        var expected = new DiffusionPipeline(host).Generate(request, cancellationToken: Ct).Images[0].Png;
        var actual = new DiffusionPipeline(device).Generate(request, cancellationToken: Ct).Images[0].Png;

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void An_inpainting_UNet_bound_on_the_device_gives_the_host_bound_image()
    {
        var host = models.Get("inpainting", DemoModelVariants.Inpainting);
        using var device = DiffusionModel.Load(models.PathOf("inpainting"), new ExecutionOptions { IntraOpThreads = 1, BindAsDevice = true });
        var request = Base with
        {
            InitImage = InpaintingPipelineTests.Solid(new Rgb24(200, 30, 30)),
            Mask = InpaintingPipelineTests.Square(16, 16, 48, 48),
            Strength = 1f,
            Scheduler = SchedulerKind.Ddim,
        };

        var expected = new DiffusionPipeline(host).Generate(request, cancellationToken: Ct).Images[0].Png;
        var actual = new DiffusionPipeline(device).Generate(request, cancellationToken: Ct).Images[0].Png;

        Assert.Equal(expected, actual);
    }
}
