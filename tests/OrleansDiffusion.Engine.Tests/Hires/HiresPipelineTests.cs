using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Pipeline;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace OrleansDiffusion.Engine.Tests.Hires;

/// <summary>The hires fix end to end on the demo model: a real second pass at the larger size.</summary>
[Collection(DemoModelCollection.Name)]
public sealed class HiresPipelineTests(DemoModelFolders models)
{
    private static GenerationRequest Small(HiresFix? hires = null) => new()
    {
        Prompt = "a red fox in the snow",
        NegativePrompt = "blurry",
        Steps = 4,
        GuidanceScale = 7.5f,
        Seed = 42,
        Width = 64,
        Height = 64,
        Scheduler = SchedulerKind.Euler,
        Hires = hires,
    };

    private static readonly HiresFix Double = new() { Scale = 2f, Steps = 3, Strength = 0.5f };

    [Fact]
    public void The_image_has_the_hires_size_and_both_passes_count_in_the_steps()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var reports = new List<GenerationProgress>();

        var result = pipeline.Generate(Small(Double) with { PreviewInterval = 2 }, new SynchronousProgress(reports.Add), TestContext.Current.CancellationToken);

        var image = Assert.Single(result.Images);
        PngPixels.Decode(image.Png, out var width, out var height);
        Assert.Equal((128, 128), (width, height));
        Assert.Equal((128, 128), (image.Width, image.Height));
        Assert.Equal(7, result.Timings.DenoisingSteps); // 4 + 3
        Assert.Equal(Enumerable.Range(1, 7), reports.Select(r => r.Step));
        Assert.All(reports, r => Assert.Equal(7, r.TotalSteps));

        // Previews at steps 2 (first pass, 8x8 latents), 4 and 6 (second pass: its step 2 is the job's 6) and 7 (the last).
        var previews = reports.Where(r => r.Preview is not null).ToList();
        Assert.Equal([2, 4, 6, 7], previews.Select(r => r.Step));
        Assert.Equal(8, Image.Identify(previews[0].Preview!).Width);
        Assert.Equal(16, Image.Identify(previews[^1].Preview!).Width);
    }

    [Fact]
    public void The_second_pass_adds_what_neither_a_large_txt2img_nor_the_small_image_enlarged_has()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var hires = pipeline.Generate(Small(Double), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var again = pipeline.Generate(Small(Double), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var small = pipeline.Generate(Small(), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var large = pipeline.Generate(Small() with { Width = 128, Height = 128 }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var lighter = pipeline.Generate(Small(Double with { Strength = 0.2f }), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        Assert.Equal(hires, again);
        Assert.True(PngPixels.MeanDifference(hires, large) > 0.5, "the second pass starts from the first pass's picture, not from noise");
        var enlarged = Enlarge(small, 128, 128);
        var fromEnlarged = PngPixels.MeanDifference(hires, enlarged);
        Assert.True(fromEnlarged > 0.5, $"the second pass repaints the enlarged picture ({fromEnlarged})");

        // A lower strength keeps more of the first pass: the result stays nearer to the enlarged small image.
        Assert.True(PngPixels.MeanDifference(lighter, enlarged) < fromEnlarged, "the strength sets how much the second pass repaints");
    }

    [Fact]
    public void The_upscaler_and_the_second_pass_steps_change_the_image()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var bilinear = pipeline.Generate(Small(Double), cancellationToken: TestContext.Current.CancellationToken);
        var nearest = pipeline.Generate(Small(Double with { Upscaler = LatentUpscaleMode.Nearest }), cancellationToken: TestContext.Current.CancellationToken);
        var firstPassSteps = pipeline.Generate(Small(Double with { Steps = 0 }), cancellationToken: TestContext.Current.CancellationToken);

        Assert.NotEqual(bilinear.Images[0].Png, nearest.Images[0].Png);
        Assert.Equal(8, firstPassSteps.Timings.DenoisingSteps); // hr_second_pass_steps 0: as many as the first pass
        Assert.NotEqual(bilinear.Images[0].Png, firstPassSteps.Images[0].Png);
    }

    [Fact]
    public void The_infotext_carries_the_first_pass_size_and_AUTOMATIC1111s_hires_fields()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var scaled = pipeline.Generate(Small(Double), cancellationToken: TestContext.Current.CancellationToken).Images[0];
        var resized = pipeline.Generate(Small(new HiresFix { ResizeWidth = 96, Upscaler = LatentUpscaleMode.Bicubic }), cancellationToken: TestContext.Current.CancellationToken).Images[0];

        Assert.EndsWith("Steps: 4, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 64x64, Model: Optimum, Denoising strength: 0.5, Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent", scaled.Infotext, StringComparison.Ordinal);
        Assert.EndsWith("Denoising strength: 0.75, Hires resize: 96x0, Hires upscaler: Latent (bicubic)", resized.Infotext, StringComparison.Ordinal);
        Assert.Equal((96, 96), (resized.Width, resized.Height));
        var parsed = GenerationParameters.ParseInfotext(scaled.Infotext)!;
        Assert.Equal((2f, 3, "Latent", 0.5f), (parsed.HiresUpscale, parsed.HiresSteps, parsed.HiresUpscaler, parsed.Strength));
    }

    [Fact]
    public void Hires_requests_batch_only_with_the_same_hires_fix()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var other = Small(Double) with { Prompt = "a blue whale", Seed = 7 };

        var batch = pipeline.GenerateBatch([Small(Double), other], cancellationToken: TestContext.Current.CancellationToken);
        var alone = pipeline.Generate(other, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(alone.Images[0].Png, batch[1].Images[0].Png);
        Assert.False(DiffusionPipeline.CanBatch(Small(Double), Small()));
        Assert.False(DiffusionPipeline.CanBatch(Small(Double), Small(Double with { Strength = 0.6f })));
    }

    [Fact]
    public void Hires_is_refused_with_an_init_image_and_beyond_the_models_sizes()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var img2img = Assert.Throws<ArgumentException>(() => pipeline.Generate(Small(Double) with { InitImage = new float[3 * 64 * 64] }, cancellationToken: TestContext.Current.CancellationToken));
        var tooLarge = Assert.Throws<ArgumentException>(() => pipeline.Generate(Small(new HiresFix { Scale = 4f }) with { Width = 512, Height = 512 }, cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal("Hires", img2img.ParamName);
        Assert.Equal("Hires.Scale", tooLarge.ParamName);
    }

    private static byte[] Enlarge(byte[] png, int width, int height)
    {
        using var image = Image.Load<Rgb24>(png);
        image.Mutate(x => x.Resize(width, height, KnownResamplers.Triangle));
        using var output = new MemoryStream();
        image.SaveAsPng(output);
        return output.ToArray();
    }
}
