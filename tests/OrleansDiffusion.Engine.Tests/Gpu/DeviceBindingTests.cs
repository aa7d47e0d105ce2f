using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Gpu;

/// <summary>
/// The CUDA binding protocol (inputs copied to the device when bound: step-invariant ones once, the sample and timestep
/// every step) run on the CPU with <see cref="ExecutionOptions.BindAsDevice"/>, which copies at bind time as a device does:
/// a buffer written after its binding and not rebound would be missed, and the image would change.
/// </summary>
[Collection(DemoModelCollection.Name)]
public sealed class DeviceBindingTests(DemoModelFolders models)
{
    private static GenerationRequest Request(string prompt, long seed) => new()
    {
        Prompt = prompt,
        NegativePrompt = "blurry",
        Steps = 5,
        GuidanceScale = 7.5f,
        Seed = seed,
        Width = 64,
        Height = 64,
        Scheduler = SchedulerKind.EulerAncestral,
    };

    public static TheoryData<DemoModelFlavor> Flavors() =>
        new(DemoModelFlavor.Optimum, DemoModelFlavor.OptimumLegacy, DemoModelFlavor.OptimumFp16, DemoModelFlavor.OliveFp16);

    [Theory]
    [MemberData(nameof(Flavors))]
    public void The_device_bound_UNet_gives_the_images_of_the_host_bound_one(DemoModelFlavor flavor)
    {
        var host = models.Get(flavor);
        using var device = DiffusionModel.Load(models.PathOf(flavor), new ExecutionOptions { IntraOpThreads = 1, BindAsDevice = true });
        Assert.Equal(UNetBindingMode.Host, host.UNetBinding);
        Assert.Equal(UNetBindingMode.EmulatedDevice, device.UNetBinding);
        GenerationRequest[] batch = [Request("a red fox in the snow", 7), Request("a blue whale", 8)];

        var expected = new DiffusionPipeline(host).GenerateBatch(batch, cancellationToken: TestContext.Current.CancellationToken);
        var actual = new DiffusionPipeline(device).GenerateBatch(batch, cancellationToken: TestContext.Current.CancellationToken);

        for (var i = 0; i < batch.Length; i++)
        {
            Assert.Equal(expected[i].Images[0].Png, actual[i].Images[0].Png);
        }

        Assert.True(PngPixels.MeanDifference(actual[0].Images[0].Png, actual[1].Images[0].Png) > 0.5, "each image of the batch keeps its own prompt and seed");
    }

    [Fact]
    public void Step_invariant_inputs_are_bound_once_and_the_sample_and_timestep_every_step()
    {
        _ = models.Get(DemoModelFlavor.Optimum); // writes the folder
        using var device = DiffusionModel.Load(models.PathOf(DemoModelFlavor.Optimum), new ExecutionOptions { IntraOpThreads = 1, BindAsDevice = true });
        var pipeline = new DiffusionPipeline(device);
        using var runOptions = new RunOptions();
        var text = pipeline.EncodeText("a cat", runOptions);
        using var loop = new DenoisingLoop(device, () => SchedulerFactory.Create(SchedulerKind.Euler, device.Folder.SchedulerConfig), 4, 1, 8, 8, text.Sequence, text.Hidden, [7.5f], guided: true, seeds: [1], runOptions);
        loop.SetHiddenStates(0, text.Values, unconditional: false);
        loop.SetHiddenStates(0, text.Values, unconditional: true);
        loop.GeneratorFor(0).FillNormal(loop.Latents);

        for (var step = 0; step < 4; step++)
        {
            loop.Step(step);
        }

        // encoder_hidden_states once; sample and timestep four times each.
        Assert.Equal(1 + (2 * 4), loop.Bindings.Binds);
        Assert.All(loop.Latents.ToArray(), v => Assert.True(float.IsFinite(v)));
    }
}
