using System.Buffers.Binary;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using OrleansDiffusion.Engine.Models;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>
/// The float16-to-float32 rewrite of a graph (an SDXL VAE with <c>force_upcast</c>), on a hand-made graph that holds every
/// form float16 takes in an export: raw weights, weights as int32 bits, external weights, a Constant node, a cast.
/// </summary>
public sealed class Float16UpcastTests
{
    [Fact]
    public void Every_form_of_float16_becomes_float32_and_the_graph_computes_what_it_did_without_overflowing()
    {
        using var directory = new TempDirectory();
        var path = directory.Combine("model.onnx");
        WriteGraph(path, directory.Combine("weights.bin"));

        var upcast = Float16Upcast.Upcast(path);

        Assert.NotNull(upcast);
        using var session = new InferenceSession(upcast);
        Assert.Equal(TensorElementType.Float, session.InputMetadata["x"].ElementDataType);
        Assert.Equal(TensorElementType.Float, session.OutputMetadata["y"].ElementDataType);
        using var input = OrtValue.CreateTensorValueFromMemory(new[] { 1f, 300f }, [2]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [input], ["y"]);

        // y = ((x + 0.5) * 2 + 0.25 + 3) * x, cast to the graph's float: 300's square terms overflow float16 (65504).
        var y = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(((1 + 0.5f) * 2 + 0.25f + 3) * 1, y[0], 3);
        Assert.Equal(((300 + 0.5f) * 2 + 0.25f + 3) * 300, y[1], 0);
    }

    [Fact]
    public void A_graph_without_float16_is_left_alone()
    {
        using var directory = new TempDirectory();
        var path = directory.Combine("model.onnx");
        var graph = new GraphProto { Name = "plain" };
        graph.Input.Add(Value("x", DataType.Float));
        graph.Output.Add(Value("y", DataType.Float));
        graph.Node.Add(Node("Identity", ["x"], "y"));
        File.WriteAllBytes(path, Model(graph).ToByteArray());

        Assert.Null(Float16Upcast.Upcast(path));
    }

    [Fact]
    public void External_data_outside_the_models_folder_is_refused()
    {
        using var directory = new TempDirectory();
        var path = directory.Combine("model.onnx");
        var graph = new GraphProto { Name = "escape" };
        graph.Input.Add(Value("x", DataType.Float16));
        graph.Output.Add(Value("y", DataType.Float16));
        var weight = new TensorProto { Name = "w", DataType = (int)DataType.Float16, DataLocation = TensorProto.Types.DataLocation.External };
        weight.Dims.Add(2);
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/passwd" });
        graph.Initializer.Add(weight);
        graph.Node.Add(Node("Add", ["x", "w"], "y"));
        File.WriteAllBytes(path, Model(graph).ToByteArray());

        var error = Assert.Throws<InvalidModelException>(() => Float16Upcast.Upcast(path));

        Assert.Contains("not a file beside the model", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// x (float16) + a (raw) -> * b (int32 bits) -> + c (external) -> + a Constant -> cast to float16 -> * x (float16).
    /// </summary>
    private static void WriteGraph(string path, string externalPath)
    {
        var graph = new GraphProto { Name = "half" };
        graph.Input.Add(Value("x", DataType.Float16));
        graph.Output.Add(Value("y", DataType.Float16));

        var a = new TensorProto { Name = "a", DataType = (int)DataType.Float16, RawData = ByteString.CopyFrom(HalfBytes(0.5f, 0.5f)) };
        a.Dims.Add(2);
        var b = new TensorProto { Name = "b", DataType = (int)DataType.Float16 };
        b.Dims.Add(2);
        b.Int32Data.Add(BitConverter.HalfToUInt16Bits((Half)2f));
        b.Int32Data.Add(BitConverter.HalfToUInt16Bits((Half)2f));
        File.WriteAllBytes(externalPath, [0xFF, 0xFF, .. HalfBytes(0.25f, 0.25f)]);
        var c = new TensorProto { Name = "c", DataType = (int)DataType.Float16, DataLocation = TensorProto.Types.DataLocation.External };
        c.Dims.Add(2);
        c.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(externalPath) });
        c.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "2" });
        c.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "4" });
        graph.Initializer.Add(a);
        graph.Initializer.Add(b);
        graph.Initializer.Add(c);

        var three = new TensorProto { DataType = (int)DataType.Float16, RawData = ByteString.CopyFrom(HalfBytes(3f)) };
        graph.Node.Add(Node("Constant", [], "three", new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = three }));
        graph.Node.Add(Node("Add", ["x", "a"], "s1"));
        graph.Node.Add(Node("Mul", ["s1", "b"], "s2"));
        graph.Node.Add(Node("Add", ["s2", "c"], "s3"));
        graph.Node.Add(Node("Add", ["s3", "three"], "s4"));
        graph.Node.Add(Node("Cast", ["s4"], "s5", new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)DataType.Float16 }));
        graph.Node.Add(Node("Mul", ["s5", "x"], "y"));
        File.WriteAllBytes(path, Model(graph).ToByteArray());
    }

    private static byte[] HalfBytes(params float[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
        }

        return bytes;
    }

    private static ModelProto Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model;
    }

    private static ValueInfoProto Value(string name, DataType type)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 2 });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = output + "_node" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }
}
