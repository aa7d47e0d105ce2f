namespace OrleansDiffusion.Engine.Models;

/// <summary>cuDNN's convolution algorithm search: benchmark every algorithm once per shape, ask cuDNN's heuristic, or take its default.</summary>
public enum CudnnConvAlgoSearch
{
    Exhaustive,
    Heuristic,
    Default,
}
