using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

[Collection(DemoModelCollection.Name)]
public sealed class DecodedImageTests(DemoModelFolders models)
{
    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void Decoded_images_encode_later_to_the_png_the_pipeline_writes(DemoModelFlavor flavor)
    {
        var pipeline = new DiffusionPipeline(models.Get(flavor));
        var request = new GenerationRequest { Prompt = "a red barn", NegativePrompt = "fog", Steps = 4, Width = 64, Height = 64, Seed = 9, ImageCount = 2 };
        var ct = TestContext.Current.CancellationToken;

        var encoded = pipeline.Generate(request, cancellationToken: ct);
        var decoded = pipeline.GenerateBatchDecoded([request], cancellationToken: ct).Single();

        Assert.Equal(TimeSpan.Zero, decoded.Timings.PngEncoding);
        Assert.Equal(encoded.Images.Select(i => i.Seed), decoded.Images.Select(i => i.Seed));
        Assert.Equal(encoded.Images.Select(i => i.Infotext), decoded.Images.Select(i => i.Infotext));
        var pixels = PngPixels.Decode(encoded.Images[0].Png, out var width, out var height);
        Assert.Equal((64, 64), (width, height));
        Assert.Equal(pixels.SelectMany(p => new[] { p.R, p.G, p.B }), decoded.Images[0].Rgb.ToArray());

        var later = decoded.EncodePngs();
        Assert.Equal(encoded.Images.Select(i => i.Png), later.Images.Select(i => i.Png));
        Assert.Equal(encoded.Images[1].Infotext, PngEncoder.ReadParameters(later.Images[1].Png));
        Assert.Throws<ObjectDisposedException>(() => decoded.Images[0].EncodePng());
    }
}
