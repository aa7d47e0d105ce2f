using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.Imaging;

/// <summary>
/// A PNG chunk reader and writer written from the specification, independent of ImageSharp and of the code
/// under test, so that tests can see exactly which chunks a file holds and craft hostile files.
/// </summary>
internal static class PngChunks
{
    public static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    private static readonly uint[] CrcTable = BuildCrcTable();

    public static List<(string Type, byte[] Data)> Read(byte[] png)
    {
        Assert.True(png.AsSpan().StartsWith(Signature), "Missing PNG signature.");
        var chunks = new List<(string, byte[])>();
        var offset = Signature.Length;
        while (offset < png.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            var typeAndData = png.AsSpan(offset + 4, 4 + length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            Assert.Equal(Crc32(typeAndData), crc);
            chunks.Add((Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray()));
            offset += 12 + length;
        }

        return chunks;
    }

    /// <summary>A PNG whose IHDR declares any size, followed by the given IDAT payload and IEND.</summary>
    public static byte[] Build(uint width, uint height, byte bitDepth, byte colorType, byte[] idat, params (string Type, byte[] Data)[] extra)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = bitDepth;
        ihdr[9] = colorType;
        using var png = new MemoryStream();
        png.Write(Signature);
        WriteChunk(png, "IHDR", ihdr);
        foreach (var (type, data) in extra)
        {
            WriteChunk(png, type, data);
        }

        WriteChunk(png, "IDAT", idat);
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>The PNG with one more chunk right after its IHDR (before the image data, where metadata usually sits).</summary>
    public static byte[] InsertAfterHeader(byte[] png, string type, byte[] data)
    {
        var headerEnd = Signature.Length + 12 + 13;
        using var output = new MemoryStream();
        output.Write(png.AsSpan(0, headerEnd));
        WriteChunk(output, type, data);
        output.Write(png.AsSpan(headerEnd));
        return output.ToArray();
    }

    /// <summary>
    /// A zlib stream of <paramref name="count"/> zero bytes, written a megabyte at a time: 128 MB deflates to about
    /// 128 KB, the ratio a metadata bomb relies on.
    /// </summary>
    public static byte[] ZlibZeros(long count)
    {
        var zeros = new byte[1 << 20];
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (var left = count; left > 0; left -= zeros.Length)
            {
                zlib.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
            }
        }

        return output.ToArray();
    }

    public static byte[] Zlib(byte[] data)
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(data);
        }

        return output.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        stream.Write(word);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        stream.Write(word);
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
