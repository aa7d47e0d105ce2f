using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace OrleansDiffusion.DemoModel.Onnx;

/// <summary>
/// A small builder over the ONNX protobuf classes: graph inputs and outputs, initializers and nodes whose names are
/// generated in order, so that the same calls always give the same bytes.
/// </summary>
internal sealed class OnnxGraphBuilder(string graphName)
{
    /// <summary>The opset every demo model imports; ONNX Runtime 1.31 runs it fully.</summary>
    public const int OpsetVersion = 17;

    /// <summary>ONNX IR version 8 (ONNX 1.10 to 1.12), read by every ONNX Runtime since 1.10.</summary>
    public const long IrVersion = 8;

    private readonly GraphProto _graph = new() { Name = graphName };
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    /// <summary>Declares a graph input; a dimension is either a fixed <see cref="long"/> or a symbolic name.</summary>
    public string Input(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as a graph output called <paramref name="name"/>.</summary>
    public void Output(string value, string name, TensorProto.Types.DataType type, params object[] dims)
    {
        if (value != name)
        {
            Node("Identity", [value], name);
        }

        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>A float32 initializer (raw little-endian data).</summary>
    public string Constant(string hint, ReadOnlySpan<float> values, params long[] dims)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        }

        return AddInitializer(hint, TensorProto.Types.DataType.Float, bytes, dims);
    }

    /// <summary>A float32 scalar (rank 0) initializer.</summary>
    public string Scalar(string hint, float value) => Constant(hint, [value]);

    /// <summary>
    /// An initializer of <paramref name="type"/> (float32 or float16) holding <paramref name="value"/> everywhere; no
    /// dimensions make it a scalar.
    /// </summary>
    public string Filled(string hint, float value, TensorProto.Types.DataType type, params long[] dims)
    {
        var count = (int)dims.Aggregate(1L, (product, dim) => product * dim);
        var half = type == TensorProto.Types.DataType.Float16;
        var size = half ? sizeof(ushort) : sizeof(float);
        var bytes = new byte[count * size];
        for (var i = 0; i < count; i++)
        {
            if (half)
            {
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * size), (Half)value);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * size), value);
            }
        }

        return AddInitializer(hint, type, bytes, dims);
    }

    /// <summary>
    /// An initializer whose data is in an external file beside the model (ONNX external data: location, offset,
    /// length), for weights written by a stream rather than held in the graph. <paramref name="name"/> is used as is.
    /// </summary>
    public string ExternalInitializer(string name, TensorProto.Types.DataType type, long[] dims, string location, long offset, long length)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(dims);
        MarkExternal(tensor, location, offset, length);
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>An int64 initializer (raw little-endian data).</summary>
    public string ConstantInt64(string hint, ReadOnlySpan<long> values, params long[] dims)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), values[i]);
        }

        return AddInitializer(hint, TensorProto.Types.DataType.Int64, bytes, dims);
    }

    /// <summary>A 1-D int64 initializer, the usual form of shape, axes and pads operands.</summary>
    public string Int64s(string hint, params long[] values) => ConstantInt64(hint, values, values.Length);

    /// <summary>Adds a node with one output and returns the output's generated name.</summary>
    public string Node(string opType, IEnumerable<string> inputs, params AttributeProto[] attributes)
        => Node(opType, inputs, NextName(opType), attributes);

    /// <summary>Casts <paramref name="value"/> to <paramref name="type"/>; returns it unchanged when already so.</summary>
    public string CastTo(string value, TensorProto.Types.DataType from, TensorProto.Types.DataType type)
        => from == type ? value : Node("Cast", [value], OnnxAttribute.Int("to", (long)type));

    public ModelProto Build(string docString)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "OrleansDiffusion.DemoModel",
            ProducerVersion = "1",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = OpsetVersion });
        return model;
    }

    /// <summary>
    /// Serializes the model to <paramref name="path"/>; with <paramref name="externalData"/>, every initializer of 1 KiB or
    /// more goes into that file beside it as ONNX external data (location, offset, length), as exporters store large weights.
    /// </summary>
    public void Save(string path, string docString, string? externalData = null)
    {
        var model = Build(docString);
        if (externalData is not null)
        {
            using var data = File.Create(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, externalData));
            foreach (var tensor in model.Graph.Initializer.Where(t => t.RawData.Length >= 1024))
            {
                MarkExternal(tensor, externalData, data.Position, tensor.RawData.Length);
                tensor.RawData.WriteTo(data);
                tensor.RawData = ByteString.Empty;
            }
        }

        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    private static void MarkExternal(TensorProto tensor, string location, long offset, long length)
    {
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    private string Node(string opType, IEnumerable<string> inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = output + "_node" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return output;
    }

    private string AddInitializer(string hint, TensorProto.Types.DataType type, byte[] bytes, long[] dims)
    {
        var tensor = new TensorProto { Name = NextName(hint), DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    private string NextName(string hint)
    {
        _counters.TryGetValue(hint, out var count);
        _counters[hint] = count + 1;
        return count == 0 ? hint : $"{hint}_{count}";
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string param => new TensorShapeProto.Types.Dimension { DimParam = param },
                long value => new TensorShapeProto.Types.Dimension { DimValue = value },
                int value => new TensorShapeProto.Types.Dimension { DimValue = value },
                _ => throw new ArgumentException($"A dimension is a long or a name, not {dim.GetType().Name}.", nameof(dims)),
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
