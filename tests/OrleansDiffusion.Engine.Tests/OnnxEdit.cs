using Google.Protobuf;
using Onnx;

namespace OrleansDiffusion.Engine.Tests;

/// <summary>Changes a written ONNX file in place, for tests of exports the demo model does not write.</summary>
internal static class OnnxEdit
{
    public static void Rewrite(string path, Action<ModelProto> change)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        change(model);
        File.WriteAllBytes(path, model.ToByteArray());
    }

    /// <summary>Swaps two graph outputs' names, so that each name holds the other's values.</summary>
    public static void SwapOutputs(ModelProto model, string a, string b)
    {
        string Swap(string name) => name == a ? b : name == b ? a : name;
        foreach (var node in model.Graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                node.Output[i] = Swap(node.Output[i]);
            }
        }

        foreach (var output in model.Graph.Output)
        {
            output.Name = Swap(output.Name);
        }
    }

    /// <summary>Fixes dimension <paramref name="axis"/> of graph input <paramref name="input"/> to <paramref name="size"/>.</summary>
    public static void FixInputDimension(ModelProto model, string input, int axis, long size)
    {
        var dimension = model.Graph.Input.Single(i => i.Name == input).Type.TensorType.Shape.Dim[axis];
        dimension.DimValue = size;
    }
}
