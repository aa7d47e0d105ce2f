using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Gpu;

/// <summary>
/// A float16 export runs with float16 tensors at every UNet input and output (ONNX Runtime casts nothing: a float32
/// value bound to a float16 input is refused), and draws what its float32 twin draws. optimum's fp32 and fp16 demo
/// flavours are one model (the same generated weights, the same input layout) exported at two precisions, so the
/// same seed must give nearly the same picture; float16 rounding is all that separates them.
/// </summary>
[Collection(DemoModelCollection.Name)]
public sealed class Float16ExportTests(DemoModelFolders models)
{
    private static GenerationRequest Request(long seed) => new()
    {
        Prompt = "a red fox in the snow",
        NegativePrompt = "blurry",
        Steps = 8,
        GuidanceScale = 7.5f,
        Seed = seed,
        Width = 64,
        Height = 64,
        Scheduler = SchedulerKind.Euler,
    };

    [Fact]
    public void The_fp16_export_runs_its_UNet_in_float16_and_draws_the_fp32_export_s_picture()
    {
        var fp32 = models.Get(DemoModelFlavor.Optimum);
        var fp16 = models.Get(DemoModelFlavor.OptimumFp16);
        var signature = fp16.UNetSig;
        Assert.All(
            new[] { signature.Sample, signature.Timestep, signature.EncoderHiddenStates, signature.OutSample },
            spec => Assert.Equal(TensorElementType.Float16, spec.ElementType));
        Assert.Equal(TensorElementType.Float, fp32.UNetSig.Sample.ElementType);

        var single = new DiffusionPipeline(fp32).Generate(Request(5), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var half = new DiffusionPipeline(fp16).Generate(Request(5), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        var otherSeed = new DiffusionPipeline(fp16).Generate(Request(6), cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;

        var precision = PngPixels.MeanDifference(single, half);
        var seed = PngPixels.MeanDifference(half, otherSeed);
        Assert.True(precision < 1.0, $"fp16 and fp32 differ by {precision:F3} levels of 255 on average");
        Assert.True(seed > 10 * precision, $"a different seed ({seed:F3}) differs far more than the precision ({precision:F3})");
    }
}
