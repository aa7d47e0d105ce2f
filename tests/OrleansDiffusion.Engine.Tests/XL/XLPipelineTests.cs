using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
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

    [Fact]
    public void Size_conditioning_goes_to_the_UNet_as_time_ids_in_diffusers_order()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var request = Small() with { Width = 96 };

        var absent = pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var explicitDefault = pipeline.Generate(request with { SizeConditioning = new SizeConditioning(64, 96, 0, 0, 64, 96) }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var tall = pipeline.Generate(request with { SizeConditioning = new SizeConditioning(80, 96, 0, 0, 64, 96) }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var wide = pipeline.Generate(request with { SizeConditioning = new SizeConditioning(64, 112, 0, 0, 64, 96) }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var cropped = pipeline.Generate(request with { SizeConditioning = new SizeConditioning(64, 96, 32, 0, 64, 96) }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        Assert.Equal([64f, 96f, 0f, 0f, 64f, 96f], SizeConditioning.Default(96, 64).ToTimeIds());
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], new SizeConditioning(1, 2, 3, 4, 5, 6).ToTimeIds());
        Assert.Equal(absent, explicitDefault);
        foreach (var changed in new[] { tall, wide, cropped })
        {
            var difference = PngPixels.MeanDifference(absent, changed);
            Assert.True(difference > 2, $"the conditioning reaches the picture: {difference}");
        }

        // 16 pixels more height or more width: the demo UNet weighs a width twice a height, so the order shows.
        Assert.True(PngPixels.MeanDifference(tall, wide) > 2, "height and width are told apart");
    }

    [Fact]
    public void Size_conditioning_out_of_bounds_or_on_an_SD_model_is_refused()
    {
        var request = Small() with { SizeConditioning = new SizeConditioning(64, 64, -1, 0, 64, 64) };

        Assert.Equal("SizeConditioning", Assert.Throws<ArgumentException>(() => new DiffusionPipeline(models.Get()).Generate(request, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        using var sd = new TempDirectory();
        DemoModelWriter.Write(sd.Path);
        using var sdModel = DiffusionModel.Load(sd.Path, new ExecutionOptions { IntraOpThreads = 1 });
        var error = Assert.Throws<ArgumentException>(() => new DiffusionPipeline(sdModel).Generate(
            Small() with { SizeConditioning = SizeConditioning.Default(64, 64) }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("(sd1) has none", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_negative_prompt_is_all_zeros_where_the_model_asks_and_encoded_where_it_does_not()
    {
        var folder = models.WriteCopy();
        var index = Path.Combine(folder, "model_index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"force_zeros_for_empty_prompt\": true", "\"force_zeros_for_empty_prompt\": false", StringComparison.Ordinal));
        using var encoding = DiffusionModel.Load(folder, new ExecutionOptions { IntraOpThreads = 1 });
        var zeroing = models.Get();
        var request = Small() with { NegativePrompt = string.Empty };

        var zeros = new DiffusionPipeline(zeroing).Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var blank = new DiffusionPipeline(zeroing).Generate(request with { NegativePrompt = " " }, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var encoded = new DiffusionPipeline(encoding).Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        Assert.True(zeroing.Folder.ForceZerosForEmptyPrompt);
        Assert.False(encoding.Folder.ForceZerosForEmptyPrompt);
        Assert.True(PngPixels.MeanDifference(zeros, encoded) > 0.5, "zeros, not the encoding of \"\"");
        Assert.Equal(0, PngPixels.MeanDifference(encoded, blank)); // " " is not empty (A1111 compares with ""): encoded, as "" is
    }

    [Fact]
    public void SDXL_Turbo_generates_without_guidance_in_one_to_four_steps_with_euler_ancestral_trailing()
    {
        var model = models.Get(family: DemoModelFamily.StableDiffusionXLTurbo);
        var pipeline = new DiffusionPipeline(model);
        var request = Small() with { GuidanceScale = 0f, NegativePrompt = string.Empty, Width = 64, Height = 64 };

        var one = pipeline.Generate(request with { Steps = 1 }, cancellationToken: TestContext.Current.CancellationToken);
        var four = pipeline.Generate(request with { Steps = 4 }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ModelFamily.StableDiffusionXLTurbo, model.Folder.Family);
        Assert.Equal((512, 512, 4, 0f), (model.Folder.SizeRules.DefaultWidth, model.Folder.SizeRules.DefaultHeight, model.Folder.DefaultSteps, model.Folder.DefaultGuidanceScale));
        Assert.Equal(SchedulerKind.EulerAncestral, SchedulerFactory.DefaultFor(model.Folder.SchedulerConfig));
        Assert.Equal(1, one.Timings.DenoisingSteps);
        Assert.Equal(4, four.Timings.DenoisingSteps);
        foreach (var image in new[] { one.Images[0], four.Images[0] })
        {
            Assert.True(PngPixels.LumaSpread(image.Png) > 1, "a picture");
            Assert.Contains("Sampler: Euler a, CFG scale: 0,", image.Infotext, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Sizes_an_SDXL_UNet_cannot_take_are_refused_before_any_work()
    {
        var pipeline = new DiffusionPipeline(models.Get());

        var odd = Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { Width = 72 }, cancellationToken: TestContext.Current.CancellationToken));
        var large = Assert.Throws<ArgumentException>(() => pipeline.Generate(Small() with { Width = 2048, Height = 1024 }, cancellationToken: TestContext.Current.CancellationToken));

        Assert.Contains("not a multiple of 32", odd.Message, StringComparison.Ordinal);
        Assert.Contains("(sdxl)", odd.Message, StringComparison.Ordinal);
        Assert.Contains("1048576 pixels", large.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Requests_with_their_own_prompts_negatives_and_conditioning_in_one_batch_each_get_the_images_they_get_alone()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var a = Small("a red fox") with { NegativePrompt = string.Empty, Seed = 1 };
        var b = Small("a blue whale") with { Seed = 2, ImageCount = 2, SizeConditioning = new SizeConditioning(128, 64, 0, 16, 64, 64) };

        var batch = pipeline.GenerateBatch([a, b], cancellationToken: TestContext.Current.CancellationToken);

        var alone = new[] { a, b }.Select(r => pipeline.Generate(r, cancellationToken: TestContext.Current.CancellationToken)).ToList();
        for (var r = 0; r < 2; r++)
        {
            for (var i = 0; i < alone[r].Images.Count; i++)
            {
                Assert.True(PngPixels.MeanDifference(alone[r].Images[i].Png, batch[r].Images[i].Png) < 0.5, $"request {r} image {i}");
            }
        }
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.Olive)]
    public void Img2img_runs_on_both_kinds_of_VAE_encoder_output_and_keeps_the_init_image(DemoModelFlavor flavor)
    {
        var pipeline = new DiffusionPipeline(models.Get(flavor));
        var init = new float[3 * 64 * 64];
        Array.Fill(init, -0.6f); // dark grey
        var request = Small() with { Prompt = "a lighthouse", InitImage = init, Strength = 0.25f, Steps = 8, GuidanceScale = 1f };

        var result = pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0];

        // optimum's latent_parameters (mean and log-variance) and Olive's latent_sample: a quarter of the schedule over a
        // dark grey (51 of 255) keeps it about that dark.
        var pixels = PngPixels.Decode(result.Png, out _, out _);
        var mean = pixels.Average(p => (p.R + p.G + p.B) / 3.0);
        Assert.InRange(mean, 40, 62);
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void An_SDXL_denoising_step_allocates_nothing_after_warm_up(DemoModelFlavor flavor)
    {
        var model = models.Get(flavor);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        var text = new DiffusionPipeline(model).EncodeText("a cat", runOptions);
        using var loop = new DenoisingLoop(
            model, () => SchedulerFactory.Create(SchedulerKind.Euler, model.Folder.SchedulerConfig), 10, 2, 8, 8, text.Sequence, text.Hidden,
            [7.5f, 7.5f], guided: true, seeds: [1, 2], runOptions, text.Pooled!.Length);
        for (var image = 0; image < 2; image++)
        {
            loop.SetHiddenStates(image, text.Values, unconditional: false);
            loop.SetHiddenStates(image, text.Values, unconditional: true);
            loop.SetPooled(image, text.Pooled, unconditional: false);
            loop.SetPooled(image, text.Pooled, unconditional: true);
            loop.SetTimeIds(image, SizeConditioning.Default(64, 64).ToTimeIds());
        }

        loop.GeneratorFor(0).FillNormal(loop.Latents);
        loop.Step(0);
        loop.Step(1);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 2; i < 8; i++)
        {
            loop.Step(i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Loading_a_model_whose_VAE_runs_in_float32_says_so_in_the_log()
    {
        var upcast = new RecordingLogger();
        var asExported = new RecordingLogger();
        _ = models.Get(DemoModelFlavor.OptimumFp16); // written
        _ = models.Get(DemoModelFlavor.OliveFp16);

        DiffusionModel.Load(models.PathOf(DemoModelFlavor.OptimumFp16), new ExecutionOptions { IntraOpThreads = 1 }, upcast).Dispose();
        DiffusionModel.Load(models.PathOf(DemoModelFlavor.OliveFp16), new ExecutionOptions { IntraOpThreads = 1 }, asExported).Dispose();

        Assert.Contains(upcast.Messages, m => m.Contains("runs in float32 (force_upcast)", StringComparison.Ordinal));
        Assert.DoesNotContain(asExported.Messages, m => m.Contains("force_upcast", StringComparison.Ordinal));
    }

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
    }
}
