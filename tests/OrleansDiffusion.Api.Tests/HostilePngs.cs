using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests;

/// <summary>PNG uploads built byte by byte, with correct CRCs: a clean one, and one carrying a metadata bomb.</summary>
internal static class HostilePngs
{
    private const int SignatureAndHeader = 8 + 12 + 13;

    /// <summary>A <paramref name="width"/> x <paramref name="height"/> gradient, as ImageSharp encodes it.</summary>
    public static byte[] Gradient(int width, int height)
    {
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image[x, y] = new Rgb24((byte)(x * 4), (byte)(y * 4), 128);
            }
        }

        using var buffer = new MemoryStream();
        image.SaveAsPng(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// <paramref name="png"/> with a zTXt chunk right after its header whose text is <paramref name="inflatedBytes"/>
    /// zeros: 128 MB deflates to about 130 KB.
    /// </summary>
    public static byte[] WithZtxtBomb(byte[] png, long inflatedBytes)
    {
        using var data = new MemoryStream();
        data.Write("Comment\0"u8);
        data.WriteByte(0); // compression method: zlib
        var zeros = new byte[1 << 20];
        using (var zlib = new ZLibStream(data, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            for (var left = inflatedBytes; left > 0; left -= zeros.Length)
            {
                zlib.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
            }
        }

        using var output = new MemoryStream();
        output.Write(png.AsSpan(0, SignatureAndHeader));
        WriteChunk(output, "zTXt"u8, data.ToArray());
        output.Write(png.AsSpan(SignatureAndHeader));
        return output.ToArray();
    }

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        stream.Write(type);
        stream.Write(data);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        stream.Write(word);
    }
}
