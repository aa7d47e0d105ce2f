using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Writes an 8-bit RGB PNG straight into a caller's buffer: signature, <c>IHDR</c>, the text chunk, one <c>IDAT</c>
/// (the filtered rows through the platform's zlib) and <c>IEND</c>. Nothing image-sized is allocated: the rows are
/// filtered one at a time into a rented row, and the compressed stream is written where the chunk goes.
/// </summary>
/// <remarks>
/// Each row takes the filter (None, Sub, Up, Average, Paeth) whose output has the smallest sum of absolute values, the
/// heuristic of libpng and Pillow. zlib level 4 is about as fast as the managed level-3 deflate it replaces was slow,
/// and compresses better. The same pixels and text always give the same bytes.
/// </remarks>
internal static class PngWriter
{
    private const int ZlibLevel = 4;
    private const int BytesPerPixel = 3;

    /// <summary>
    /// Writes the PNG of interleaved <paramref name="rgb"/> into <paramref name="destination"/> and returns its length.
    /// </summary>
    /// <exception cref="NotSupportedException">The PNG does not fit <paramref name="destination"/>.</exception>
    public static int Write(ReadOnlySpan<byte> rgb, int width, int height, string? parameters, string keyword, byte[] destination)
    {
        var span = destination.AsSpan();
        PngEncoder.Signature.CopyTo(span);
        var at = PngEncoder.Signature.Length;

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type: RGB
        header[10] = header[11] = header[12] = 0; // deflate, adaptive filtering, no interlace
        at += WriteChunk(span[at..], "IHDR"u8, header);

        if (parameters is not null)
        {
            at += WriteText(span[at..], keyword, parameters);
        }

        // IDAT: its length and type, then the zlib stream written in place, then its CRC.
        var dataStart = at + 8;
        int written;
        using (var stream = new MemoryStream(destination, dataStart, Math.Max(0, destination.Length - dataStart - 4 - 12), writable: true))
        {
            using (var zlib = new ZLibStream(stream, new ZLibCompressionOptions { CompressionLevel = ZlibLevel }, leaveOpen: true))
            {
                WriteRows(rgb, width, height, zlib);
            }

            written = (int)stream.Position;
        }

        BinaryPrimitives.WriteInt32BigEndian(span[at..], written);
        "IDAT"u8.CopyTo(span[(at + 4)..]);
        BinaryPrimitives.WriteUInt32BigEndian(span[(dataStart + written)..], Crc32.HashToUInt32(span.Slice(at + 4, 4 + written)));
        at = dataStart + written + 4;

        at += WriteChunk(span[at..], "IEND"u8, []);
        return at;
    }

    /// <summary>The bytes a text chunk of <paramref name="parameters"/> takes at most (UTF-8 at worst), headers included.</summary>
    public static int MaxTextChunkLength(string keyword, string parameters) =>
        12 + keyword.Length + 5 + Encoding.UTF8.GetMaxByteCount(parameters.Length);

    // length, type, data, CRC of type and data.
    private static int WriteChunk(Span<byte> destination, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination, data.Length);
        type.CopyTo(destination[4..]);
        data.CopyTo(destination[8..]);
        return Finish(destination, data.Length);
    }

    private static int Finish(Span<byte> chunk, int dataLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(chunk[(8 + dataLength)..], Crc32.HashToUInt32(chunk.Slice(4, 4 + dataLength)));
        return 12 + dataLength;
    }

    // tEXt (keyword, NUL, Latin-1) when the text is Latin-1; iTXt (keyword, NUL, uncompressed, method 0, no language,
    // no translated keyword, UTF-8) otherwise, as Pillow writes A1111's parameters.
    private static int WriteText(Span<byte> destination, string keyword, string text)
    {
        var data = destination[8..];
        var at = Encoding.Latin1.GetBytes(keyword, data);
        data[at++] = 0;
        if (IsLatin1(text))
        {
            at += Encoding.Latin1.GetBytes(text, data[at..]);
            "tEXt"u8.CopyTo(destination[4..]);
        }
        else
        {
            data[at++] = 0; // not compressed
            data[at++] = 0; // method
            data[at++] = 0; // empty language tag
            data[at++] = 0; // empty translated keyword
            at += Encoding.UTF8.GetBytes(text, data[at..]);
            "iTXt"u8.CopyTo(destination[4..]);
        }

        BinaryPrimitives.WriteInt32BigEndian(destination, at);
        return Finish(destination, at);
    }

    private static bool IsLatin1(string text)
    {
        foreach (var c in text)
        {
            if (c > '\u00ff')
            {
                return false;
            }
        }

        return true;
    }

    private static void WriteRows(ReadOnlySpan<byte> rgb, int width, int height, Stream zlib)
    {
        var stride = BytesPerPixel * width;
        var filtered = ArrayPool<byte>.Shared.Rent(1 + stride);
        var zeros = ArrayPool<byte>.Shared.Rent(stride);
        try
        {
            zeros.AsSpan(0, stride).Clear();
            ReadOnlySpan<byte> previous = zeros.AsSpan(0, stride);
            for (var y = 0; y < height; y++)
            {
                var row = rgb.Slice(y * stride, stride);
                Filter(row, previous, filtered.AsSpan(0, 1 + stride));
                zlib.Write(filtered, 0, 1 + stride);
                previous = row;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(filtered);
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>Writes the filter type and the filtered row: the filter with the smallest sum of absolute values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Filter(ReadOnlySpan<byte> row, ReadOnlySpan<byte> previous, Span<byte> output)
    {
        var n = row.Length;
        previous = previous[..n];
        output = output[..(n + 1)];
        // The five filters' residuals (Residual's), spelled out so that their sums take one pass over the row.
        long none = 0, sub = 0, up = 0, average = 0, paeth = 0;
        for (var i = 0; i < n; i++)
        {
            var (x, a, b, c) = Neighbours(row, previous, i);
            none += Math.Abs((int)(sbyte)x);
            sub += Math.Abs((int)(sbyte)(x - a));
            up += Math.Abs((int)(sbyte)(x - b));
            average += Math.Abs((int)(sbyte)(x - ((a + b) >> 1)));
            paeth += Math.Abs((int)(sbyte)(x - Paeth(a, b, c)));
        }

        // Ties go to the simpler filter, in the order of the filter types.
        var best = 0;
        var least = none;
        foreach (var (filter, sum) in (ReadOnlySpan<(int, long)>)[(1, sub), (2, up), (3, average), (4, paeth)])
        {
            if (sum < least)
            {
                (best, least) = (filter, sum);
            }
        }

        output[0] = (byte)best;
        var filtered = output[1..];
        for (var i = 0; i < n; i++)
        {
            var (x, a, b, c) = Neighbours(row, previous, i);
            filtered[i] = (byte)Residual(best, x, a, b, c);
        }
    }

    // The byte, the one to its left (a), above (b) and above-left (c); 0 outside the image.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int X, int A, int B, int C) Neighbours(ReadOnlySpan<byte> row, ReadOnlySpan<byte> previous, int i) =>
        i >= BytesPerPixel
            ? (row[i], row[i - BytesPerPixel], previous[i], previous[i - BytesPerPixel])
            : (row[i], 0, previous[i], 0);

    // What filter type 0-4 (None, Sub, Up, Average, Paeth) stores for x; the low byte is the filtered sample.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Residual(int filter, int x, int a, int b, int c) => filter switch
    {
        0 => x,
        1 => x - a,
        2 => x - b,
        3 => x - ((a + b) >> 1),
        _ => x - Paeth(a, b, c),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        var pa = Math.Abs(p - a);
        var pb = Math.Abs(p - b);
        var pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
