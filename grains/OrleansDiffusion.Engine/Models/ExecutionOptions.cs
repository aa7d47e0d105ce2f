namespace OrleansDiffusion.Engine.Models;

/// <summary>Where and how the ONNX sessions of a model run.</summary>
public sealed record ExecutionOptions
{
    /// <summary>The requested provider. Default: <see cref="ExecutionProvider.Cpu"/>. CUDA falls back to CPU, logged, when it cannot load.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>The CUDA provider's options (device, cuDNN search, arena). Default: ONNX Runtime's, on device 0.</summary>
    public CudaOptions Cuda { get; init; } = CudaOptions.Default;

    /// <summary>Threads inside one operator. Default: 0, ONNX Runtime's choice (the physical cores).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across independent operators. Default: 0, ONNX Runtime's choice.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's pool threads spin while they wait for work (<c>session.intra_op.allow_spinning</c> and
    /// <c>session.inter_op.allow_spinning</c>). Spinning shortens each hand-off but burns a core meanwhile, which a
    /// machine with few cores (or other work on them) pays for. Default: true, ONNX Runtime's.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>
    /// Runs the UNet through the device-memory binding (<c>UNetBindings</c>) even on the CPU provider, emulating the
    /// copy ONNX Runtime makes when a host value is bound to a device session: tests run the CUDA path's logic on CPU.
    /// </summary>
    internal bool BindAsDevice { get; init; }

    public static ExecutionOptions Default { get; } = new();
}
