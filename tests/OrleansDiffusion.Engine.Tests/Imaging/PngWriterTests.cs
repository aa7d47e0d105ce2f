using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using PngEncoder = OrleansDiffusion.Engine.Imaging.PngEncoder;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class PngWriterTests
{
    private const int Width = 40;

    /// <summary>
    /// Rows that each favour one filter: a zero row after noise (None), a horizontal ramp shifted at random per row
    /// (Sub), a copy of the row above (Up), the mean of left and above (Average), a plane sloping both ways (Paeth).
    /// </summary>
    private static byte[] RowsForEveryFilter(out int height)
    {
        var random = new Random(11);
        var rows = new List<byte[]>();
        byte[] Noise()
        {
            var row = new byte[3 * Width];
            random.NextBytes(row);
            return row;
        }

        rows.Add(Noise());
        rows.Add(new byte[3 * Width]);
        rows.Add(Noise());
        var offset = random.Next(256);
        rows.Add([.. Enumerable.Range(0, 3 * Width).Select(i => (byte)(offset + (i / 3 * 7)))]);
        rows.Add(Noise());
        rows.Add((byte[])rows[^1].Clone());
        var above = Noise();
        rows.Add(above);
        var average = new byte[3 * Width];
        for (var i = 0; i < average.Length; i++)
        {
            average[i] = i < 3 ? (byte)random.Next(256) : (byte)((average[i - 3] + above[i]) >> 1);
        }

        rows.Add(average);
        for (var y = 0; y < 4; y++)
        {
            rows.Add([.. Enumerable.Range(0, 3 * Width).Select(i => (byte)((i / 3 * 5) + (y * 9) + (i % 3 * 40)))]);
        }

        height = rows.Count;
        return [.. rows.SelectMany(r => r)];
    }

    [Fact]
    public void Every_filter_type_is_chosen_and_the_pixels_decode_back()
    {
        var rgb = RowsForEveryFilter(out var height);

        var png = PngEncoder.EncodeInterleaved(rgb, Width, height, "steps: 20");

        using var image = Image.Load<Rgb24>(png);
        var decoded = new byte[rgb.Length];
        image.CopyPixelDataTo(decoded);
        Assert.Equal(rgb, decoded);
        var filters = FilterTypes(png, Width, height);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4 }, filters.Distinct().Order().ToArray());
        Assert.Equal(0, (int)filters[1]);
        Assert.Equal(2, (int)filters[5]);
    }

    [Fact]
    public void Chunks_are_well_formed_with_their_crcs_and_the_text_is_tEXt_when_latin1()
    {
        var rgb = RowsForEveryFilter(out var height);

        var chunks = Chunks(PngEncoder.EncodeInterleaved(rgb, Width, height, "caf\u00e9, Steps: 20"));

        Assert.Equal(["IHDR", "tEXt", "IDAT", "IEND"], chunks.Select(c => c.Type));
        Assert.All(chunks, c => Assert.True(c.CrcMatches, $"{c.Type}: CRC mismatch"));
        var header = chunks[0].Data;
        Assert.Equal(Width, BinaryPrimitives.ReadInt32BigEndian(header));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4)));
        Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, header[8..]);
        Assert.Equal("parameters\0caf\u00e9, Steps: 20", System.Text.Encoding.Latin1.GetString(chunks[1].Data));
    }

    [Fact]
    public void Text_beyond_latin1_goes_in_an_uncompressed_iTXt_chunk()
    {
        var rgb = RowsForEveryFilter(out var height);

        var png = PngEncoder.EncodeInterleaved(rgb, Width, height, "\u4e2d\u6587 lighthouse");

        var text = Chunks(png).Single(c => c.Type == "iTXt").Data;
        Assert.Equal("parameters\0\0\0\0\0"u8.ToArray(), text[..15]);
        Assert.Equal("\u4e2d\u6587 lighthouse", System.Text.Encoding.UTF8.GetString(text[15..]));
        Assert.Equal("\u4e2d\u6587 lighthouse", PngEncoder.ReadParameters(png));
    }

    [Fact]
    public void The_same_pixels_and_text_give_the_same_bytes_and_no_text_gives_no_text_chunk()
    {
        var rgb = RowsForEveryFilter(out var height);

        Assert.Equal(PngEncoder.EncodeInterleaved(rgb, Width, height, "x"), PngEncoder.EncodeInterleaved(rgb, Width, height, "x"));
        Assert.Equal(["IHDR", "IDAT", "IEND"], Chunks(PngEncoder.EncodeInterleaved(rgb, Width, height, null)).Select(c => c.Type));
    }

    [Fact]
    public void A_pooled_png_is_the_bytes_of_the_array_one_and_refuses_reads_once_disposed()
    {
        var rgb = RowsForEveryFilter(out var height);

        var pooled = PngEncoder.EncodeInterleavedPooled(rgb, Width, height, "x");
        Assert.Equal(PngEncoder.EncodeInterleaved(rgb, Width, height, "x"), pooled.Memory.ToArray());
        pooled.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pooled.Memory);
        pooled.Dispose();
    }

    private sealed record Chunk(string Type, byte[] Data, bool CrcMatches);

    private static List<Chunk> Chunks(byte[] png)
    {
        Assert.Equal(PngEncoder.Signature.ToArray(), png[..8]);
        var chunks = new List<Chunk>();
        for (var at = 8; at < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            var type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            chunks.Add(new Chunk(type, png[(at + 8)..(at + 8 + length)], crc == Crc32.HashToUInt32(png.AsSpan(at + 4, 4 + length))));
            at += 12 + length;
        }

        return chunks;
    }

    // The filter type byte in front of each row of the inflated IDAT data.
    private static byte[] FilterTypes(byte[] png, int width, int height)
    {
        var data = Chunks(png).Where(c => c.Type == "IDAT").SelectMany(c => c.Data).ToArray();
        using var inflate = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        inflate.CopyTo(raw);
        var bytes = raw.ToArray();
        Assert.Equal(height * (1 + (3 * width)), bytes.Length);
        return [.. Enumerable.Range(0, height).Select(y => bytes[y * (1 + (3 * width))])];
    }
}
