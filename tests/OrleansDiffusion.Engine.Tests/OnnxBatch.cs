using Google.Protobuf;
using Onnx;

namespace OrleansDiffusion.Engine.Tests;

/// <summary>Fixes the batch axis of a written ONNX graph, as exporters that trace with a fixed batch leave it.</summary>
internal static class OnnxBatch
{
    /// <summary>Every graph input and output whose first axis is the symbolic <c>batch</c> gets <paramref name="size"/> there.</summary>
    public static void Fix(string path, long size)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        foreach (var value in model.Graph.Input.Concat(model.Graph.Output))
        {
            var dims = value.Type.TensorType.Shape.Dim;
            if (dims.Count > 0 && dims[0].DimParam == "batch")
            {
                dims[0].DimValue = size;
            }
        }

        File.WriteAllBytes(path, model.ToByteArray());
    }
}
