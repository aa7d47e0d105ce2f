using System.Runtime.InteropServices;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// The external data file of one full-size graph (<c>model.onnx_data</c>, <c>model.onnx.data</c>, <c>weights.pb</c>): weights are
/// generated chunk by chunk and streamed to it as the graph declares them, so that no multi-gigabyte array is ever held
/// in memory (a protobuf cannot hold more than 2 GB anyway). Without <c>writeData</c> it only lays the tensors out and
/// sizes the file (sparse on Linux): the graph, the offsets and the parameter count are the same, for tests that check
/// structure without writing gigabytes.
/// </summary>
internal sealed class WeightFile : IDisposable
{
    // Tensors of 1 MiB or more start on a 64 KiB boundary, as ONNX aligns them so that a runtime can map them.
    private const long AlignThreshold = 1 << 20;
    private const long Alignment = 1 << 16;
    private const int ChunkElements = 1 << 16;

    private readonly FileStream _stream;
    private readonly bool _writeData;
    private readonly int _seed;
    private readonly float[] _chunk;
    private readonly byte[] _bytes;

    public WeightFile(string path, DataType type, int seed, bool writeData)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX external data is little-endian; this writer copies memory as is.");
        }

        Location = Path.GetFileName(path);
        Type = type;
        _seed = seed;
        _writeData = writeData;
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        _chunk = writeData ? new float[ChunkElements] : [];
        _bytes = writeData ? new byte[ChunkElements * sizeof(float)] : [];
    }

    /// <summary>The file name the graph's tensors name as their location.</summary>
    public string Location { get; }

    /// <summary>The element type of every tensor: float32 or float16.</summary>
    public DataType Type { get; }

    /// <summary>The number of values written so far: the model's parameter count.</summary>
    public long Parameters { get; private set; }

    /// <summary>The file's length so far, padding included.</summary>
    public long Length { get; private set; }

    private int ElementSize => Type == DataType.Float16 ? sizeof(ushort) : sizeof(float);

    /// <summary>
    /// Appends a tensor of <paramref name="count"/> values: uniform of standard deviation <paramref name="std"/> from the
    /// stream <paramref name="label"/> when <paramref name="constant"/> is null, else that value everywhere. Returns where
    /// it is.
    /// </summary>
    public (long Offset, long Length) Append(string label, long count, double std, float? constant = null)
    {
        var length = count * ElementSize;
        var offset = length >= AlignThreshold ? (Length + Alignment - 1) / Alignment * Alignment : Length;
        if (_writeData)
        {
            for (var padding = offset - Length; padding > 0; padding--)
            {
                _stream.WriteByte(0);
            }

            for (long start = 0; start < count; start += ChunkElements)
            {
                var values = _chunk.AsSpan(0, (int)Math.Min(ChunkElements, count - start));
                if (constant is { } value)
                {
                    values.Fill(value);
                }
                else
                {
                    DeterministicRandom.FillUniform(_seed, label, start, values, std);
                }

                _stream.Write(Encode(values));
            }
        }

        Parameters += count;
        Length = offset + length;
        return (offset, length);
    }

    public void Dispose()
    {
        // Layout only: the file gets its full length without data (a sparse file), so that offsets stay consistent.
        _stream.SetLength(Length);
        _stream.Dispose();
    }

    private ReadOnlySpan<byte> Encode(ReadOnlySpan<float> values)
    {
        if (Type != DataType.Float16)
        {
            return MemoryMarshal.AsBytes(values);
        }

        var halves = MemoryMarshal.Cast<byte, Half>(_bytes.AsSpan(0, values.Length * sizeof(ushort)));
        for (var i = 0; i < values.Length; i++)
        {
            halves[i] = (Half)values[i];
        }

        return MemoryMarshal.AsBytes(halves);
    }
}
