namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// What a text encoder export outputs besides <c>last_hidden_state</c>: optimum exports made with hidden states (SDXL's,
/// SD3's, or any with <c>output_hidden_states</c>) have <c>hidden_states.0</c> (the embeddings) to <c>hidden_states.N</c>
/// (the last layer, before the final layer norm), which CLIP skip needs. The names are read from the ONNX file's
/// protobuf without loading the graph or its weights, so that a silo can check a request before any session exists.
/// </summary>
public static class TextEncoderOutputs
{
    public const string HiddenStatesPrefix = "hidden_states.";

    // ONNX's protobuf: ModelProto.graph = 7, GraphProto.output = 12, ValueInfoProto.name = 1.
    private const int ModelGraphField = 7;
    private const int GraphOutputField = 12;
    private const int ValueInfoNameField = 1;

    /// <summary>
    /// The layer count N when the outputs include every <c>hidden_states.0</c> ... <c>hidden_states.N</c> (N at least 1);
    /// null when they have none (optimum's SD 1.x and 2.x exports) or not all of them.
    /// </summary>
    public static int? LayerCount(IEnumerable<string> outputNames)
    {
        var indices = new HashSet<int>();
        foreach (var name in outputNames)
        {
            if (name.StartsWith(HiddenStatesPrefix, StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(HiddenStatesPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                indices.Add(index);
            }
        }

        var layers = indices.Count - 1;
        return layers >= 1 && Enumerable.Range(0, layers + 1).All(indices.Contains) ? layers : null;
    }

    /// <summary>The graph output names of the ONNX model at <paramref name="path"/>, in order.</summary>
    /// <exception cref="InvalidDataException">The file is not an ONNX protobuf.</exception>
    public static IReadOnlyList<string> ReadOutputNames(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        var names = new List<string>();
        var reader = new Reader(stream, path);
        reader.ForEachField(stream.Length, (field, wireType, end) =>
        {
            if (field != ModelGraphField || wireType != Reader.LengthDelimited)
            {
                return false;
            }

            reader.ForEachField(end, (graphField, graphWire, outputEnd) =>
            {
                if (graphField != GraphOutputField || graphWire != Reader.LengthDelimited)
                {
                    return false;
                }

                reader.ForEachField(outputEnd, (valueField, valueWire, nameEnd) =>
                {
                    if (valueField != ValueInfoNameField || valueWire != Reader.LengthDelimited)
                    {
                        return false;
                    }

                    names.Add(reader.ReadString(nameEnd));
                    return true;
                });
                return true;
            });
            return true;
        });
        return names;
    }

    /// <summary>Just enough of the protobuf wire format to walk messages and skip what is not wanted (weights above all).</summary>
    private sealed class Reader(Stream stream, string path)
    {
        public const int LengthDelimited = 2;

        /// <summary>
        /// Calls <paramref name="visit"/> for each field up to <paramref name="end"/> with the field number, wire type and,
        /// for length-delimited fields, where the field ends; a visit that returns false has the field skipped.
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

                if (fieldEnd >= 0 && visit(field, wireType, fieldEnd))
                {
                    stream.Position = fieldEnd;
                    continue;
                }

                switch (wireType)
                {
                    case 0:
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

        public string ReadString(long end)
        {
            var bytes = new byte[checked((int)(end - stream.Position))];
            stream.ReadExactly(bytes);
            return System.Text.Encoding.UTF8.GetString(bytes);
        }

        private ulong ReadVarint()
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
