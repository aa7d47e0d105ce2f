using System.Runtime.InteropServices;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.Models;

public sealed class NativeHeapTests
{
    [Fact]
    public void Trim_hands_freed_native_memory_back_on_linux_and_is_a_no_op_elsewhere()
    {
        // 16 MiB of small malloc blocks, freed: glibc keeps their pages in its heap until trimmed.
        var blocks = new nint[4096];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(4096);
            Marshal.WriteByte(blocks[i], 4095, 1);
        }

        foreach (var block in blocks)
        {
            Marshal.FreeHGlobal(block);
        }

        Assert.Equal(OperatingSystem.IsLinux(), NativeHeap.Trim());
    }

    [Fact]
    public void Trim_after_a_model_is_disposed_leaves_the_process_able_to_load_and_run_it_again()
    {
        using var folder = new TempDirectory();
        DemoModelWriter.Write(folder.Path);
        DiffusionModel.Load(folder.Path).Dispose();

        NativeHeap.Trim();
        NativeHeap.Trim();

        using var model = DiffusionModel.Load(folder.Path);
        var result = new Engine.Pipeline.DiffusionPipeline(model).Generate(new Engine.Pipeline.GenerationRequest { Prompt = "a cat", Steps = 2, Width = 64, Height = 64 }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEmpty(result.Images[0].Png);
    }
}
