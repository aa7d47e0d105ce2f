using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// The inputs and outputs an ONNX file declares (names, element types, shapes), read from its protobuf without loading
/// the graph or its weights: a multi-gigabyte UNet is walked by seeking past its initializers. A silo uses it to tell a
/// model's family and check requests against it before any session exists.
/// </summary>
/// <param name="Inputs">
/// The graph inputs in order, as ONNX Runtime declares them: weights that models before IR version 4 list among the
/// inputs too are left out.
/// </param>
/// <param name="Outputs">The graph outputs in order.</param>
public sealed record OnnxGraphHeader(IReadOnlyList<OnnxValueInfo> Inputs, IReadOnlyList<OnnxValueInfo> Outputs)
{
    // ONNX's protobuf: ModelProto.graph = 7; GraphProto.input = 11, output = 12; ValueInfoProto.name = 1, type = 2;
    // TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1, shape = 2; TensorShapeProto.dim = 1;
    // TensorShapeProto.Dimension.dim_value = 1, dim_param = 2; GraphProto.initializer = 5, TensorProto.name = 8.
    private const int ModelGraphField = 7;
    private const int GraphInitializerField = 5;
    private const int TensorNameField = 8;
    private const int GraphInputField = 11;
    private const int GraphOutputField = 12;

    public OnnxValueInfo? FindInput(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    public OnnxValueInfo? FindOutput(string name) => Outputs.FirstOrDefault(o => o.Name == name);

    /// <summary>Reads the header of the ONNX model at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not an ONNX protobuf.</exception>
    public static OnnxGraphHeader Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Reader(stream, path);
        reader.ForEachField(stream.Length, (field, wireType, end) =>
        {
            if (field != ModelGraphField || wireType != Reader.LengthDelimited)
            {
                return false;
            }

            reader.ForEachField(end, (graphField, graphWire, valueEnd) =>
            {
                if (graphWire == Reader.LengthDelimited && graphField == GraphInitializerField)
                {
                    // Only the weight's name is read; its data is seeked past.
                    reader.ForEachField(valueEnd, (tensorField, tensorWire, nameEnd) =>
                    {
                        if (tensorField != TensorNameField || tensorWire != Reader.LengthDelimited)
                        {
                            return false;
                        }

                        initializers.Add(reader.ReadString(nameEnd));
                        return true;
                    });
                    return true;
                }

                if (graphWire != Reader.LengthDelimited || graphField is not (GraphInputField or GraphOutputField))
                {
                    return false;
                }

                (graphField == GraphInputField ? inputs : outputs).Add(reader.ReadValueInfo(valueEnd));
                return true;
            });
            return true;
        });
        return new OnnxGraphHeader([.. inputs.Where(i => !initializers.Contains(i.Name))], outputs);
    }

    /// <summary>Just enough of the protobuf wire format to walk messages and skip what is not wanted (weights above all).</summary>
    private sealed class Reader(Stream stream, string path)
    {
        public const int Varint = 0;
        public const int LengthDelimited = 2;

        /// <summary>
        /// Calls <paramref name="visit"/> for each field up to <paramref name="end"/> with the field number, wire type and,
        /// for length-delimited fields, where the field ends (-1 otherwise). A visit that returns true has read the field
        /// (a varint with <see cref="ReadVarint"/>); one that returns false has it skipped.
        /// </summary>
        public void ForEachField(long end, Func<int, int, long, bool> visit)
        {
            while (stream.Position < end)
            {
                var tag = ReadVarint();
                var field = (int)(tag >> 3);
                var wireType = (int)(tag & 7);
                var length = wireType == LengthDelimited ? checked((long)ReadVarint()) : -1;
                var fieldEnd = length < 0 ? -1 : checked(stream.Position + length);
                if (fieldEnd > end)
                {
                    throw Invalid("a field runs past its message");
                }

                if ((wireType is LengthDelimited or Varint) && visit(field, wireType, fieldEnd))
                {
                    if (fieldEnd >= 0)
                    {
                        stream.Position = fieldEnd;
                    }

                    continue;
                }

                switch (wireType)
                {
                    case Varint:
                        ReadVarint();
                        break;
                    case 1:
                        stream.Position += 8;
                        break;
                    case LengthDelimited:
                        stream.Position = fieldEnd;
                        break;
                    case 5:
                        stream.Position += 4;
                        break;
                    default:
                        throw Invalid($"wire type {wireType} of field {field}");
                }
            }

            if (stream.Position != end)
            {
                throw Invalid("a message runs past its end");
            }
        }

        /// <summary>A ValueInfoProto: its name and, for a tensor, its element type and dimensions (-1 where symbolic).</summary>
        public OnnxValueInfo ReadValueInfo(long end)
        {
            var name = string.Empty;
            var elementType = 0;
            var dims = new List<int>();
            ForEachField(end, (field, wire, fieldEnd) =>
            {
                if (field == 1 && wire == LengthDelimited)
                {
                    name = ReadString(fieldEnd);
                    return true;
                }

                if (field != 2 || wire != LengthDelimited)
                {
                    return false;
                }

                ForEachField(fieldEnd, (typeField, typeWire, tensorEnd) =>
                {
                    if (typeField != 1 || typeWire != LengthDelimited)
                    {
                        return false;
                    }

                    ForEachField(tensorEnd, (tensorField, tensorWire, shapeEnd) =>
                    {
                        if (tensorField == 1 && tensorWire == Varint)
                        {
                            elementType = checked((int)ReadVarint());
                            return true;
                        }

                        if (tensorField != 2 || tensorWire != LengthDelimited)
                        {
                            return false;
                        }

                        ForEachField(shapeEnd, (shapeField, shapeWire, dimEnd) =>
                        {
                            if (shapeField != 1 || shapeWire != LengthDelimited)
                            {
                                return false;
                            }

                            var value = -1;
                            ForEachField(dimEnd, (dimField, dimWire, _) =>
                            {
                                if (dimField == 1 && dimWire == Varint)
                                {
                                    value = checked((int)(long)ReadVarint());
                                    return true;
                                }

                                return false;
                            });
                            dims.Add(value);
                            return true;
                        });
                        return true;
                    });
                    return true;
                });
                return true;
            });
            return new OnnxValueInfo(name, (TensorElementType)elementType, dims);
        }

        public string ReadString(long end)
        {
            var bytes = new byte[checked((int)(end - stream.Position))];
            stream.ReadExactly(bytes);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        public ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = stream.ReadByte();
                if (b < 0)
                {
                    throw Invalid("the file ends inside a field");
                }

                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw Invalid("a varint is longer than 64 bits");
        }

        private InvalidDataException Invalid(string problem) => new($"{path}: not an ONNX model ({problem}).");
    }
}
