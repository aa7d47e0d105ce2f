using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

/// <summary><see cref="ExecutionOptions.AllowSpinning"/> changes how ONNX Runtime's threads wait, not what they compute.</summary>
public sealed class ThreadSpinningTests
{
    [Fact]
    public void Without_thread_spinning_two_threads_draw_the_same_picture()
    {
        using var root = new TempDirectory();
        OrleansDiffusion.DemoModel.DemoModelWriter.Write(root.Path);
        var request = new GenerationRequest { Prompt = "a lighthouse", Steps = 4, Width = 64, Height = 64, Seed = 3 };

        byte[] Draw(ExecutionOptions execution)
        {
            using var model = DiffusionModel.Load(root.Path, execution);
            return new DiffusionPipeline(model).Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0].Png;
        }

        Assert.Equal(
            Draw(new ExecutionOptions { IntraOpThreads = 2 }),
            Draw(new ExecutionOptions { IntraOpThreads = 2, AllowSpinning = false }));
    }
}
