namespace OrleansDiffusion.Engine.Models;

/// <summary>How ONNX Runtime's device arena grows: by doubling (fewer, larger chunks) or by exactly what is asked (less waste).</summary>
public enum CudaArenaExtendStrategy
{
    NextPowerOfTwo,
    SameAsRequested,
}
