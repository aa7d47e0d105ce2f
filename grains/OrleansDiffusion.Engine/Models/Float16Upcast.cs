using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// Rewrites an ONNX graph that computes in float16 to compute in float32: float16 weights and constants become float32,
/// casts to float16 cast to float32, float16 inputs and outputs become float32. It is what diffusers' <c>upcast_vae</c>
/// does to a PyTorch VAE, for an export: the SDXL VAE's activations overflow float16 (65504) and decode to NaN, so a
/// float16 SDXL VAE export is run this way unless its config clears <c>force_upcast</c>. External weights are read in,
/// so that the result loads from memory on its own.
/// </summary>
internal static class Float16Upcast
{
    private const int Float16 = (int)DataType.Float16;
    private const int Float = (int)DataType.Float;

    /// <summary>The model at <paramref name="path"/> computing in float32, serialized; null when it has no float16 at all.</summary>
    /// <exception cref="InvalidModelException">The file or its external data cannot be read.</exception>
    public static byte[]? Upcast(string path)
    {
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or IOException)
        {
            throw new InvalidModelException(path, $"cannot read it to run it in float32: {e.Message}", e);
        }

        var converter = new Converter(Path.GetDirectoryName(Path.GetFullPath(path))!, path);
        converter.Graph(model.Graph);
        return converter.Changed ? model.ToByteArray() : null;
    }

    private sealed class Converter(string directory, string path)
    {
        public bool Changed { get; private set; }

        public void Graph(GraphProto graph)
        {
            foreach (var value in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
            {
                if (value.Type?.TensorType is { ElemType: Float16 } tensor)
                {
                    tensor.ElemType = Float;
                    Changed = true;
                }
            }

            foreach (var initializer in graph.Initializer)
            {
                Tensor(initializer);
            }

            foreach (var node in graph.Node)
            {
                foreach (var attribute in node.Attribute)
                {
                    Attribute(node, attribute);
                }
            }
        }

        private void Attribute(NodeProto node, AttributeProto attribute)
        {
            // Cast's "to" and the "dtype" of RandomNormal, EyeLike and the like name an element type.
            if ((attribute.Name == "to" && node.OpType == "Cast") || attribute.Name == "dtype")
            {
                if (attribute.I == Float16)
                {
                    attribute.I = Float;
                    Changed = true;
                }

                return;
            }

            if (attribute.T is { } tensor)
            {
                Tensor(tensor);
            }

            foreach (var item in attribute.Tensors)
            {
                Tensor(item);
            }

            if (attribute.G is { } graph)
            {
                Graph(graph);
            }

            foreach (var subgraph in attribute.Graphs)
            {
                Graph(subgraph);
            }
        }

        /// <summary>Converts a float16 tensor to float32 and brings any external data in.</summary>
        private void Tensor(TensorProto tensor)
        {
            var external = tensor.DataLocation == TensorProto.Types.DataLocation.External;
            if (tensor.DataType != Float16 && !external)
            {
                return;
            }

            var bytes = external ? ReadExternal(tensor) : null;
            tensor.DataLocation = TensorProto.Types.DataLocation.Default;
            tensor.ExternalData.Clear();
            if (tensor.DataType != Float16)
            {
                tensor.RawData = ByteString.CopyFrom(bytes);
                return;
            }

            ReadOnlySpan<byte> raw = bytes ?? tensor.RawData.Span;
            float[] values;
            if (bytes is not null || !tensor.RawData.IsEmpty)
            {
                values = new float[raw.Length / 2];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]));
                }
            }
            else
            {
                // ONNX keeps float16 values without raw_data as their bits in int32_data.
                values = [.. tensor.Int32Data.Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits))];
            }

            var converted = new byte[values.Length * sizeof(float)];
            for (var i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(converted.AsSpan(i * sizeof(float)), values[i]);
            }

            tensor.Int32Data.Clear();
            tensor.RawData = ByteString.CopyFrom(converted);
            tensor.DataType = Float;
            Changed = true;
        }

        private byte[] ReadExternal(TensorProto tensor)
        {
            string? location = null;
            long offset = 0;
            long length = -1;
            foreach (var entry in tensor.ExternalData)
            {
                switch (entry.Key)
                {
                    case "location":
                        location = entry.Value;
                        break;
                    case "offset":
                        offset = long.Parse(entry.Value, System.Globalization.CultureInfo.InvariantCulture);
                        break;
                    case "length":
                        length = long.Parse(entry.Value, System.Globalization.CultureInfo.InvariantCulture);
                        break;
                }
            }

            var file = location is null ? null : Path.GetFullPath(Path.Combine(directory, location));
            if (file is null || !file.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
            {
                throw new InvalidModelException(path, $"the external data '{location}' of tensor '{tensor.Name}' is not a file beside the model.");
            }

            using var stream = File.OpenRead(file);
            if (length < 0)
            {
                length = stream.Length - offset;
            }

            if (offset < 0 || length < 0 || offset + length > stream.Length || length > int.MaxValue)
            {
                throw new InvalidModelException(path, $"the external data of tensor '{tensor.Name}' lies outside '{location}'.");
            }

            var bytes = new byte[length];
            stream.Position = offset;
            stream.ReadExactly(bytes);
            return bytes;
        }
    }
}
