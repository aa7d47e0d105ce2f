using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// Reads the inputs an ONNX model file declares without loading it into ONNX Runtime: a walk over the protobuf wire
/// format that seeks past the nodes and the weights (gigabytes in a real UNet) and parses only the graph's input value
/// infos. It lets a silo tell what a model can do (an inpainting or an LCM UNet) at start, before any session exists.
/// </summary>
public static class OnnxGraphInputs
{
    // Field numbers of onnx.proto3.
    private const int ModelGraph = 7;
    private const int GraphInitializer = 5;
    private const int GraphInput = 11;
    private const int TensorName = 8;
    private const int ValueInfoName = 1;
    private const int ValueInfoType = 2;
    private const int TypeTensor = 1;
    private const int TensorElemType = 1;
    private const int TensorShape = 2;
    private const int ShapeDim = 1;
    private const int DimValue = 1;

    private const int Varint = 0;
    private const int Fixed64 = 1;
    private const int LengthDelimited = 2;
    private const int Fixed32 = 5;

    /// <summary>
    /// The graph inputs of <paramref name="path"/> that are not initializers, with their element types and dimensions
    /// (-1 for a symbolic or unknown dimension), in the order the file declares them.
    /// </summary>
    /// <exception cref="InvalidModelException">The file is missing, truncated or not an ONNX model.</exception>
    public static IReadOnlyList<TensorSpec> Read(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096, FileOptions.RandomAccess);
            var reader = new WireReader(stream);
            while (reader.TryReadTag(stream.Length, out var field, out var wireType))
            {
                if (field == ModelGraph && wireType == LengthDelimited)
                {
                    return ReadGraph(reader, reader.ReadEnd());
                }

                reader.Skip(wireType);
            }

            throw new InvalidDataException("it holds no graph.");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelException(path, $"cannot read its ONNX inputs: {e.Message}", e);
        }
    }

    private static List<TensorSpec> ReadGraph(WireReader reader, long end)
    {
        var inputs = new List<TensorSpec>();
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        while (reader.TryReadTag(end, out var field, out var wireType))
        {
            if (field == GraphInput && wireType == LengthDelimited)
            {
                inputs.Add(ReadValueInfo(reader, reader.ReadEnd()));
            }
            else if (field == GraphInitializer && wireType == LengthDelimited)
            {
                // Models before IR version 4 list their weights among the inputs too.
                if (ReadTensorName(reader, reader.ReadEnd()) is { } name)
                {
                    initializers.Add(name);
                }
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return [.. inputs.Where(i => !initializers.Contains(i.Name))];
    }

    private static string? ReadTensorName(WireReader reader, long end)
    {
        string? name = null;
        while (reader.TryReadTag(end, out var field, out var wireType))
        {
            if (field == TensorName && wireType == LengthDelimited)
            {
                name = reader.ReadString();
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return name;
    }

    private static TensorSpec ReadValueInfo(WireReader reader, long end)
    {
        var name = string.Empty;
        var type = TensorElementType.DataTypeMax;
        List<int> dims = [];
        while (reader.TryReadTag(end, out var field, out var wireType))
        {
            if (field == ValueInfoName && wireType == LengthDelimited)
            {
                name = reader.ReadString();
            }
            else if (field == ValueInfoType && wireType == LengthDelimited)
            {
                var typeEnd = reader.ReadEnd();
                while (reader.TryReadTag(typeEnd, out var typeField, out var typeWire))
                {
                    if (typeField == TypeTensor && typeWire == LengthDelimited)
                    {
                        (type, dims) = ReadTensorType(reader, reader.ReadEnd());
                    }
                    else
                    {
                        reader.Skip(typeWire);
                    }
                }
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return new TensorSpec(name, type, dims);
    }

    private static (TensorElementType Type, List<int> Dims) ReadTensorType(WireReader reader, long end)
    {
        var type = TensorElementType.DataTypeMax;
        var dims = new List<int>();
        while (reader.TryReadTag(end, out var field, out var wireType))
        {
            if (field == TensorElemType && wireType == Varint)
            {
                // ONNX Runtime numbers its element types as onnx.proto numbers its data types.
                type = (TensorElementType)(int)reader.ReadVarint();
            }
            else if (field == TensorShape && wireType == LengthDelimited)
            {
                var shapeEnd = reader.ReadEnd();
                while (reader.TryReadTag(shapeEnd, out var shapeField, out var shapeWire))
                {
                    if (shapeField == ShapeDim && shapeWire == LengthDelimited)
                    {
                        dims.Add(ReadDimension(reader, reader.ReadEnd()));
                    }
                    else
                    {
                        reader.Skip(shapeWire);
                    }
                }
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return (type, dims);
    }

    private static int ReadDimension(WireReader reader, long end)
    {
        var value = -1;
        while (reader.TryReadTag(end, out var field, out var wireType))
        {
            if (field == DimValue && wireType == Varint)
            {
                var raw = (long)reader.ReadVarint();
                value = raw is > 0 and <= int.MaxValue ? (int)raw : -1;
            }
            else
            {
                reader.Skip(wireType); // dim_param: a symbolic dimension stays -1
            }
        }

        return value;
    }

    private sealed class WireReader(Stream stream)
    {
        public bool TryReadTag(long end, out int field, out int wireType)
        {
            if (stream.Position >= end)
            {
                if (stream.Position > end)
                {
                    throw new InvalidDataException("a field runs past the end of its message.");
                }

                field = 0;
                wireType = 0;
                return false;
            }

            var tag = ReadVarint();
            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            if (field == 0)
            {
                throw new InvalidDataException("it is not a protobuf message (field number 0).");
            }

            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var next = stream.ReadByte();
                if (next < 0)
                {
                    throw new EndOfStreamException("the file ends inside a number.");
                }

                result |= (ulong)(next & 0x7F) << shift;
                if ((next & 0x80) == 0)
                {
                    return result;
                }
            }

            throw new InvalidDataException("a number is longer than 64 bits.");
        }

        /// <summary>Reads a length prefix and returns where the length-delimited field ends.</summary>
        public long ReadEnd()
        {
            var length = ReadVarint();
            var end = stream.Position + (long)length;
            if (length > long.MaxValue / 2 || end > stream.Length)
            {
                throw new EndOfStreamException("a field runs past the end of the file.");
            }

            return end;
        }

        public string ReadString()
        {
            var end = ReadEnd();
            var bytes = new byte[end - stream.Position];
            stream.ReadExactly(bytes);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case Varint:
                    ReadVarint();
                    break;
                case Fixed64:
                    Seek(stream.Position + 8);
                    break;
                case LengthDelimited:
                    Seek(ReadEnd());
                    break;
                case Fixed32:
                    Seek(stream.Position + 4);
                    break;
                default:
                    throw new InvalidDataException($"wire type {wireType} is not used by ONNX files.");
            }
        }

        private void Seek(long position)
        {
            if (position > stream.Length)
            {
                throw new EndOfStreamException("a field runs past the end of the file.");
            }

            stream.Position = position;
        }
    }
}
