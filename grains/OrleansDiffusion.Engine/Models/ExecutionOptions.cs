namespace OrleansDiffusion.Engine.Models;

/// <summary>Where and how the ONNX sessions of a model run.</summary>
public sealed record ExecutionOptions
{
    /// <summary>The requested provider. Default: <see cref="ExecutionProvider.Cpu"/>. CUDA falls back to CPU, logged, when it cannot load.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>The CUDA device ordinal. Default: 0.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>Threads inside one operator. Default: 0, ONNX Runtime's choice (the physical cores).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across independent operators. Default: 0, ONNX Runtime's choice.</summary>
    public int InterOpThreads { get; init; }

    public static ExecutionOptions Default { get; } = new();
}
