using System.Globalization;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// The CUDA execution provider's tuning knobs, as ONNX Runtime names them (<c>OrtCUDAProviderOptionsV2</c>). Only used
/// when the provider is <see cref="ExecutionProvider.Cuda"/>.
/// </summary>
public sealed record CudaOptions
{
    /// <summary>The CUDA device ordinal (<c>device_id</c>). Default: 0.</summary>
    public int DeviceId { get; init; }

    /// <summary>How cuDNN picks a convolution algorithm (<c>cudnn_conv_algo_search</c>). Default: exhaustive (ONNX Runtime's).</summary>
    public CudnnConvAlgoSearch ConvAlgoSearch { get; init; } = CudnnConvAlgoSearch.Exhaustive;

    /// <summary>The most device memory the provider's arena takes (<c>gpu_mem_limit</c>), in bytes. Default: null, no limit.</summary>
    public long? MemoryLimitBytes { get; init; }

    /// <summary>How the device arena grows (<c>arena_extend_strategy</c>). Default: next power of two (ONNX Runtime's).</summary>
    public CudaArenaExtendStrategy ArenaExtendStrategy { get; init; } = CudaArenaExtendStrategy.NextPowerOfTwo;

    /// <summary>Copies run on the compute stream (<c>do_copy_in_default_stream</c>). Default: true (ONNX Runtime's; false may race).</summary>
    public bool CopyInDefaultStream { get; init; } = true;

    public static CudaOptions Default { get; } = new();

    /// <summary>
    /// The provider options as the keys and values ONNX Runtime's <c>UpdateCUDAProviderOptions</c> takes; the memory limit
    /// only when one is set (ONNX Runtime's default is the largest size_t).
    /// </summary>
    public IReadOnlyDictionary<string, string> ToProviderOptions()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(DeviceId);
        var options = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = DeviceId.ToString(CultureInfo.InvariantCulture),
            ["cudnn_conv_algo_search"] = ConvAlgoSearch switch
            {
                CudnnConvAlgoSearch.Exhaustive => "EXHAUSTIVE",
                CudnnConvAlgoSearch.Heuristic => "HEURISTIC",
                CudnnConvAlgoSearch.Default => "DEFAULT",
                _ => throw new ArgumentOutOfRangeException(nameof(ConvAlgoSearch), ConvAlgoSearch, null),
            },
            ["arena_extend_strategy"] = ArenaExtendStrategy switch
            {
                CudaArenaExtendStrategy.NextPowerOfTwo => "kNextPowerOfTwo",
                CudaArenaExtendStrategy.SameAsRequested => "kSameAsRequested",
                _ => throw new ArgumentOutOfRangeException(nameof(ArenaExtendStrategy), ArenaExtendStrategy, null),
            },
            ["do_copy_in_default_stream"] = CopyInDefaultStream ? "1" : "0",
        };
        if (MemoryLimitBytes is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit, nameof(MemoryLimitBytes));
            options["gpu_mem_limit"] = limit.ToString(CultureInfo.InvariantCulture);
        }

        return options;
    }
}
