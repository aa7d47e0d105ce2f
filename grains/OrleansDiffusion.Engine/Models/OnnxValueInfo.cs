using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Models;

/// <summary>One input or output as an ONNX file declares it: -1 marks a symbolic (dynamic) dimension.</summary>
public sealed record OnnxValueInfo(string Name, TensorElementType ElementType, IReadOnlyList<int> Dimensions)
{
    public int Rank => Dimensions.Count;
}
