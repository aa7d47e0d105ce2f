using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>
/// The CUDA execution provider's options (section <c>Diffusion:Cuda</c>), used when <see cref="DiffusionOptions.Provider"/>
/// is <c>cuda</c>. Each maps to one ONNX Runtime CUDA provider option; the defaults are ONNX Runtime's.
/// </summary>
public sealed class CudaProviderOptions
{
    public const string Section = DiffusionOptions.SectionName + ":Cuda";

    /// <summary>The smallest memory limit accepted: 256 MiB (less cannot hold an SD 1.5 UNet's activations).</summary>
    public const long MinMemoryLimitBytes = 256L * 1024 * 1024;

    /// <summary>The GPU ordinal (<c>device_id</c>). Default: 0.</summary>
    public int DeviceId { get; set; }

    /// <summary>
    /// cuDNN convolution algorithm search (<c>cudnn_conv_algo_search</c>): <c>Exhaustive</c> (benchmark each
    /// algorithm on the first run of each shape; fastest steps, slow first image), <c>Heuristic</c>, or <c>Default</c>.
    /// Default: Exhaustive.
    /// </summary>
    public string ConvAlgoSearch { get; set; } = nameof(CudnnConvAlgoSearch.Exhaustive);

    /// <summary>Most device memory ONNX Runtime's arena takes (<c>gpu_mem_limit</c>), in bytes. Default: empty, no limit.</summary>
    public long? MemoryLimitBytes { get; set; }

    /// <summary>
    /// How the device arena grows (<c>arena_extend_strategy</c>): <c>NextPowerOfTwo</c> or <c>SameAsRequested</c>
    /// (less memory held). Default: NextPowerOfTwo.
    /// </summary>
    public string ArenaExtendStrategy { get; set; } = nameof(CudaArenaExtendStrategy.NextPowerOfTwo);

    /// <summary>Copies on the compute stream (<c>do_copy_in_default_stream</c>). Default: true; false may race (ONNX Runtime issue 4829).</summary>
    public bool CopyInDefaultStream { get; set; } = true;

    /// <summary>What is wrong with these settings, each naming its key; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var failures = new List<string>();
        if (DeviceId is < 0 or > 1023)
        {
            failures.Add($"{Section}:DeviceId must be a GPU ordinal between 0 and 1023 (got {DeviceId}).");
        }

        if (!Enum.TryParse<CudnnConvAlgoSearch>(ConvAlgoSearch, ignoreCase: true, out _) || int.TryParse(ConvAlgoSearch, out _))
        {
            failures.Add($"{Section}:ConvAlgoSearch must be one of {string.Join(", ", Enum.GetNames<CudnnConvAlgoSearch>())} (got '{ConvAlgoSearch}').");
        }

        if (MemoryLimitBytes is < MinMemoryLimitBytes)
        {
            failures.Add($"{Section}:MemoryLimitBytes must be at least {MinMemoryLimitBytes} (256 MiB), or empty for no limit (got {MemoryLimitBytes}).");
        }

        if (!Enum.TryParse<CudaArenaExtendStrategy>(ArenaExtendStrategy, ignoreCase: true, out _) || int.TryParse(ArenaExtendStrategy, out _))
        {
            failures.Add($"{Section}:ArenaExtendStrategy must be one of {string.Join(", ", Enum.GetNames<CudaArenaExtendStrategy>())} (got '{ArenaExtendStrategy}').");
        }

        return failures;
    }

    /// <summary>The engine's options; call after <see cref="Validate"/> found nothing.</summary>
    public CudaOptions ToEngineOptions() => new()
    {
        DeviceId = DeviceId,
        ConvAlgoSearch = Enum.Parse<CudnnConvAlgoSearch>(ConvAlgoSearch, ignoreCase: true),
        MemoryLimitBytes = MemoryLimitBytes,
        ArenaExtendStrategy = Enum.Parse<CudaArenaExtendStrategy>(ArenaExtendStrategy, ignoreCase: true),
        CopyInDefaultStream = CopyInDefaultStream,
    };
}
