using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.Gpu;

/// <summary>The CUDA provider options as ONNX Runtime's <c>UpdateCUDAProviderOptions</c> keys and values.</summary>
public sealed class CudaOptionsTests
{
    [Fact]
    public void The_defaults_are_ONNX_Runtime_s_on_device_0_with_no_memory_limit()
    {
        var options = CudaOptions.Default.ToProviderOptions();

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["device_id"] = "0",
                ["cudnn_conv_algo_search"] = "EXHAUSTIVE",
                ["arena_extend_strategy"] = "kNextPowerOfTwo",
                ["do_copy_in_default_stream"] = "1",
            },
            options);
    }

    [Fact]
    public void Every_option_maps_to_its_ONNX_Runtime_key_and_value()
    {
        var options = new CudaOptions
        {
            DeviceId = 3,
            ConvAlgoSearch = CudnnConvAlgoSearch.Heuristic,
            MemoryLimitBytes = 6L * 1024 * 1024 * 1024,
            ArenaExtendStrategy = CudaArenaExtendStrategy.SameAsRequested,
            CopyInDefaultStream = false,
        }.ToProviderOptions();

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["device_id"] = "3",
                ["cudnn_conv_algo_search"] = "HEURISTIC",
                ["gpu_mem_limit"] = "6442450944",
                ["arena_extend_strategy"] = "kSameAsRequested",
                ["do_copy_in_default_stream"] = "0",
            },
            options);
        Assert.Equal("DEFAULT", new CudaOptions { ConvAlgoSearch = CudnnConvAlgoSearch.Default }.ToProviderOptions()["cudnn_conv_algo_search"]);
    }

    [Fact]
    public void A_negative_device_or_a_non_positive_memory_limit_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaOptions { DeviceId = -1 }.ToProviderOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaOptions { MemoryLimitBytes = 0 }.ToProviderOptions());
    }

    [Fact]
    public void Tuned_CUDA_options_still_fall_back_to_the_CPU_where_CUDA_cannot_load()
    {
        using var root = new TempDirectory();
        OrleansDiffusion.DemoModel.DemoModelWriter.Write(root.Path);
        var execution = new ExecutionOptions
        {
            Provider = ExecutionProvider.Cuda,
            IntraOpThreads = 1,
            Cuda = new CudaOptions { DeviceId = 1, ConvAlgoSearch = CudnnConvAlgoSearch.Heuristic, MemoryLimitBytes = 1L << 30 },
        };

        using var model = DiffusionModel.Load(root.Path, execution);

        if (model.Provider == ExecutionProvider.Cuda)
        {
            Assert.Equal(UNetBindingMode.Device, model.UNetBinding); // a GPU host with the CUDA package
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(model.ProviderFallbackReason));
            Assert.Equal(UNetBindingMode.Host, model.UNetBinding);
        }
    }
}
