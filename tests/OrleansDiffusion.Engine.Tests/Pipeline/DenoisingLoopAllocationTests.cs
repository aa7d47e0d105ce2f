using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

[Collection(DemoModelCollection.Name)]
public sealed class DenoisingLoopAllocationTests(DemoModelFolders models)
{
    [Theory]
    [InlineData(DemoModelFlavor.Optimum, SchedulerKind.EulerAncestral)]
    [InlineData(DemoModelFlavor.OliveFp16, SchedulerKind.DpmPlusPlus2M)]
    [InlineData(DemoModelFlavor.OptimumLegacy, SchedulerKind.Pndm)]
    public void A_denoising_step_allocates_nothing_after_warm_up(DemoModelFlavor flavor, SchedulerKind kind)
    {
        var model = models.Get(flavor);
        var pipeline = new DiffusionPipeline(model);
        using var runOptions = new RunOptions();
        var text = pipeline.EncodeText("a cat", runOptions);
        using var loop = new DenoisingLoop(model, () => SchedulerFactory.Create(kind, model.Folder.SchedulerConfig), 20, 2, 8, 8, text.Sequence, text.Hidden, [7.5f, 7.5f], guided: true, seeds: [1, 2], runOptions);
        for (var image = 0; image < 2; image++)
        {
            loop.SetHiddenStates(image, text.Values, unconditional: false);
            loop.SetHiddenStates(image, text.Values, unconditional: true);
        }
        loop.GeneratorFor(0).FillNormal(loop.Latents);
        loop.Step(0);
        loop.Step(1);

        // Three windows of five steps: a step that allocates does so in every window, while the runtime's own one-off
        // work on this thread (tiering up a method on a loaded machine) lands in one at most.
        var allocated = new List<long>();
        for (var window = 0; window < 3; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 2 + (window * 5); i < 7 + (window * 5); i++)
            {
                loop.Step(i);
            }

            allocated.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated.Min());
    }
}
