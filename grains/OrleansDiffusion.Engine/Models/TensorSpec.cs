using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Models;

/// <summary>One input or output of an ONNX graph as its metadata declares it; -1 marks a dynamic dimension.</summary>
public sealed record TensorSpec(string Name, TensorElementType ElementType, IReadOnlyList<int> Dimensions)
{
    public int Rank => Dimensions.Count;

    public bool IsFloat16 => ElementType == TensorElementType.Float16;

    internal static TensorSpec From(string name, NodeMetadata metadata) =>
        new(name, metadata.ElementDataType, metadata.Dimensions);

    public override string ToString() =>
        $"{Name} {ElementType} [{string.Join(", ", Dimensions.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]";
}
