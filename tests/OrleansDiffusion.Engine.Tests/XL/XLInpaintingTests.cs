using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Inpainting;
using OrleansDiffusion.Engine.Tests.Pipeline;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>
/// An SDXL inpainting export (SDXL's two text encoders, <c>text_embeds</c> and <c>time_ids</c>, and a 9-channel UNet
/// <c>sample</c>) loads as an inpainting UNet and inpaints with SDXL's conditioning.
/// </summary>
public sealed class XLInpaintingTests : IDisposable
{
    private const int Side = 64;
    private static readonly Rgb24 Red = new(200, 30, 30);
    private readonly TempDirectory _root = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.Olive)]
    public void An_SDXL_inpainting_unet_takes_nine_channels_and_keeps_what_the_mask_leaves(DemoModelFlavor flavor)
    {
        var path = _root.Combine(DemoModelWriter.FlavorName(flavor));
        DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, Family = DemoModelFamily.StableDiffusionXL, Inpainting = true });

        Assert.True(UNetKind.Read(Path.Combine(path, "unet", "model.onnx")).Inpainting);
        using var model = DiffusionModel.Load(path, new ExecutionOptions { IntraOpThreads = 1 });
        Assert.True(model.IsXL);
        Assert.True(model.UNetSig.Kind.Inpainting);
        Assert.Equal(UNetKind.InpaintingChannels, model.UNetSig.SampleChannels);
        Assert.NotNull(model.UNetSig.TextEmbeds);

        var mask = InpaintingPipelineTests.Square(16, 16, 48, 48);
        var request = new GenerationRequest
        {
            Prompt = string.Empty,
            Steps = 6,
            GuidanceScale = 1f,
            Seed = 11,
            Width = Side,
            Height = Side,
            Scheduler = SchedulerKind.Ddim,
            InitImage = InpaintingPipelineTests.Solid(Red),
            Mask = mask,
            Strength = 1f,
        };

        var result = new DiffusionPipeline(model).Generate(request, cancellationToken: Ct);

        var pixels = PngPixels.Decode(result.Images[0].Png, out _, out _);
        var kept = pixels.Where((_, p) => mask[p] == 0).ToArray();
        Assert.All(kept, p => Assert.True(Math.Abs(p.R - Red.R) <= 2 && Math.Abs(p.G - Red.G) <= 2 && Math.Abs(p.B - Red.B) <= 2, $"kept pixel {p}"));
        var hole = pixels.Where((_, p) => mask[p] > 0).ToArray();
        var (r, g) = (hole.Average(p => p.R), hole.Average(p => p.G));
        Assert.True(r - g > 60, $"the hole takes the colour of what the mask keeps, not R {r:F0} G {g:F0}");
    }
}
