using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

[Collection(DemoModelCollection.Name)]
public sealed class DiffusionPipelineTests(DemoModelFolders models)
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

    public static TheoryData<DemoModelFlavor> Flavors() => new(DemoModelFolders.Flavors);

    [Theory]
    [MemberData(nameof(Flavors))]
    public void Every_export_flavour_generates_a_png_with_its_parameters(DemoModelFlavor flavor)
    {
        var pipeline = new DiffusionPipeline(models.Get(flavor));

        var result = pipeline.Generate(Small() with { Width = 96, Height = 64 }, cancellationToken: TestContext.Current.CancellationToken);

        var image = Assert.Single(result.Images);
        PngPixels.Decode(image.Png, out var width, out var height);
        Assert.Equal((96, 64), (width, height));
        Assert.True(PngPixels.LumaSpread(image.Png) > 1, "the demo model paints a picture, not a flat colour");
        var parameters = PngEncoder.ReadParameters(image.Png);
        Assert.Equal(image.Infotext, parameters);
        Assert.StartsWith("a red fox in the snow\nNegative prompt: blurry\nSteps: 4, Sampler: PLMS, CFG scale: 7.5, Seed: 42, Size: 96x64", parameters, StringComparison.Ordinal);
        Assert.Equal(5, result.Timings.DenoisingSteps); // PNDM repeats one timestep
    }

    [Fact]
    public void The_same_request_gives_a_bit_identical_image()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var first = pipeline.Generate(Small(), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var second = pipeline.Generate(Small(), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var otherSeed = pipeline.Generate(Small(seed: 43), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var otherPrompt = pipeline.Generate(Small("a blue whale"), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        Assert.Equal(first, second);
        Assert.True(PngPixels.MeanDifference(first, otherSeed) > 0.5, "the seed sets the layout");
        Assert.True(PngPixels.MeanDifference(first, otherPrompt) > 0.5, "the prompt sets the colours");
    }

    public static TheoryData<string> SchedulerNames() => new(SchedulerFactory.Names);

    [Theory]
    [MemberData(nameof(SchedulerNames))]
    public void Every_scheduler_denoises_to_a_picture(string name)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var pipeline = new DiffusionPipeline(models.Get());
        var request = Small() with { Scheduler = kind, KarrasSigmas = karras, Steps = 6, GuidanceScale = kind == SchedulerKind.Lcm ? 1f : 7.5f };

        var result = pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken);

        var png = result.Images[0].Png;
        Assert.True(PngPixels.LumaSpread(png) > 1);
        Assert.Contains($"Sampler: {Engine.Pipeline.SamplerNames.Display(kind)}", result.Images[0].Infotext, StringComparison.Ordinal);
        Assert.Equal(karras, result.Images[0].Infotext.Contains("Schedule type: Karras", StringComparison.Ordinal));
    }

    [Fact]
    public void Progress_is_reported_after_every_step_with_previews_at_the_interval()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var reports = new List<GenerationProgress>();

        pipeline.Generate(Small() with { Steps = 6, Scheduler = SchedulerKind.Euler, PreviewInterval = 2 }, new SynchronousProgress(reports.Add), TestContext.Current.CancellationToken);

        Assert.Equal([1, 2, 3, 4, 5, 6], reports.Select(r => r.Step));
        Assert.All(reports, r => Assert.Equal(6, r.TotalSteps));
        Assert.Equal([false, true, false, true, false, true], reports.Select(r => r.Preview is not null));
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First.Elapsed <= p.Second.Elapsed));
        using var preview = SixLabors.ImageSharp.Image.Load(reports[1].Preview!);
        Assert.Equal(8, preview.Height / (preview.Width / 8)); // latent-sized (or an integer upscale of it)
    }

    [Fact]
    public void Cancellation_stops_between_steps()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        using var cancellation = new CancellationTokenSource();
        var steps = 0;
        var progress = new SynchronousProgress(p =>
        {
            steps = p.Step;
            if (p.Step == 2)
            {
                cancellation.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(Small() with { Steps = 20 }, progress, cancellation.Token));
        Assert.Equal(2, steps);
    }

    [Fact]
    public void Several_images_use_consecutive_seeds()
    {
        var pipeline = new DiffusionPipeline(models.Get(DemoModelFlavor.Diffusers));

        var batch = pipeline.Generate(Small() with { ImageCount = 3 }, cancellationToken: TestContext.Current.CancellationToken);
        var single = pipeline.Generate(Small(seed: 43), cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([42L, 43L, 44L], batch.Images.Select(i => i.Seed));
        Assert.Contains("Seed: 43,", batch.Images[1].Infotext, StringComparison.Ordinal);
        Assert.True(PngPixels.MeanDifference(batch.Images[1].Png, single.Images[0].Png) < 1.0, "image i of a batch is the single image of seed + i");
        Assert.True(PngPixels.MeanDifference(batch.Images[0].Png, batch.Images[1].Png) > 0.5);
    }

    [Fact]
    public void A_batch_of_different_requests_gives_each_the_images_it_gets_alone()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var a = Small("a red fox") with { GuidanceScale = 5f };
        var b = Small("a blue whale", seed: 9) with { NegativePrompt = "grey", ImageCount = 2 };

        var batch = pipeline.GenerateBatch([a, b], cancellationToken: TestContext.Current.CancellationToken);
        var aloneA = pipeline.Generate(a, cancellationToken: TestContext.Current.CancellationToken);
        var aloneB = pipeline.Generate(b, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(2, batch.Count);
        Assert.Single(batch[0].Images);
        Assert.Equal([9L, 10L], batch[1].Images.Select(i => i.Seed));
        Assert.True(PngPixels.MeanDifference(batch[0].Images[0].Png, aloneA.Images[0].Png) < 1.0);
        Assert.True(PngPixels.MeanDifference(batch[1].Images[1].Png, aloneB.Images[1].Png) < 1.0);
        Assert.Equal(aloneB.Images[1].Infotext, batch[1].Images[1].Infotext);
    }

    [Fact]
    public void Incompatible_requests_are_not_batched()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        Assert.Throws<ArgumentException>(() => pipeline.GenerateBatch([Small(), Small() with { Steps = 5 }], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentException>(() => pipeline.GenerateBatch([Small(), Small() with { GuidanceScale = 1f }], cancellationToken: TestContext.Current.CancellationToken));
        Assert.False(DiffusionPipeline.CanBatch(Small(), Small() with { Width = 128 }));
    }

    [Fact]
    public void Without_guidance_the_negative_prompt_is_not_used()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var a = pipeline.Generate(Small() with { GuidanceScale = 1f, NegativePrompt = "green" }, cancellationToken: TestContext.Current.CancellationToken);
        var b = pipeline.Generate(Small() with { GuidanceScale = 1f, NegativePrompt = "purple" }, cancellationToken: TestContext.Current.CancellationToken);
        var c = pipeline.Generate(Small() with { GuidanceScale = 7.5f, NegativePrompt = "purple" }, cancellationToken: TestContext.Current.CancellationToken);
        var d = pipeline.Generate(Small() with { GuidanceScale = 7.5f, NegativePrompt = "green" }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(PixelsOf(a), PixelsOf(b));
        Assert.True(PngPixels.MeanDifference(c.Images[0].Png, d.Images[0].Png) > 0.5, "with guidance the negative prompt steers the image");
    }

    [Fact]
    public void Img2img_runs_the_strength_share_of_the_steps_and_stays_near_the_init_image()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var init = pipeline.Generate(Small("a yellow sun") with { Steps = 6 }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var initChw = InitImageLoader.LoadChw(init, 64, 64, ImageLimits.Default);
        var reports = new List<GenerationProgress>();

        var light = pipeline.Generate(Small("a purple sea") with { Steps = 10, InitImage = initChw, Strength = 0.3f, Scheduler = SchedulerKind.Ddim }, new SynchronousProgress(reports.Add), TestContext.Current.CancellationToken);
        var heavy = pipeline.Generate(Small("a purple sea") with { Steps = 10, InitImage = initChw, Strength = 1f, Scheduler = SchedulerKind.Ddim }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(3, reports.Count);
        Assert.Equal(3, light.Timings.DenoisingSteps);
        Assert.Equal(10, heavy.Timings.DenoisingSteps);
        Assert.Contains("Denoising strength: 0.3", light.Images[0].Infotext, StringComparison.Ordinal);
        Assert.True(
            PngPixels.MeanDifference(init, light.Images[0].Png) < PngPixels.MeanDifference(init, heavy.Images[0].Png),
            "a low strength keeps more of the init image");
    }

    [Fact]
    public void Fp16_exports_compute_what_the_fp32_export_computes()
    {
        var fp32 = new DiffusionPipeline(models.Get(DemoModelFlavor.Diffusers)).Generate(Small(), cancellationToken: TestContext.Current.CancellationToken);
        var fp16 = new DiffusionPipeline(models.Get(DemoModelFlavor.OliveFp16)).Generate(Small(), cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(PngPixels.MeanDifference(fp32.Images[0].Png, fp16.Images[0].Png) < 4, "same weights, half precision I/O");
    }

    [Theory]
    [InlineData(100, 64, "Width")]
    [InlineData(64, 4096, "Height")]
    public void Out_of_bounds_sizes_are_rejected_before_any_work(int width, int height, string field)
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var error = Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { Width = width, Height = height }, cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(field, error.ParamName);
    }

    [Fact]
    public void Bad_request_fields_name_the_field()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        Assert.Equal("Steps", Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { Steps = 0 }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Equal("GuidanceScale", Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { GuidanceScale = float.NaN }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Equal("ImageCount", Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { ImageCount = 0 }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Equal("InitImage", Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { InitImage = new float[5] }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Equal("Strength", Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { InitImage = new float[3 * 64 * 64], Strength = 0.1f }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { Scheduler = SchedulerKind.Ddim, KarrasSigmas = true }, cancellationToken: TestContext.Current.CancellationToken));
    }

    private static Array PixelsOf(GenerationResult result) => PngPixels.Decode(result.Images[0].Png, out _, out _);
}

/// <summary>Reports on the generating thread (unlike <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
{
    public void Report(GenerationProgress value) => report(value);
}
