using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Writes decoded images as 8-bit RGB PNGs carrying their infotext in a <c>parameters</c> text chunk, where
/// AUTOMATIC1111, civitai and image browsers look for it; and reads that chunk back.
/// </summary>
/// <remarks>
/// The text goes uncompressed: as <c>tEXt</c> when it is Latin-1, as <c>iTXt</c> (UTF-8) otherwise, which is what
/// Pillow does for A1111. The same input always gives the same bytes: no timestamps, fixed encoder settings.
/// </remarks>
public static class PngEncoder
{
    /// <summary>The text chunk keyword A1111 writes and reads.</summary>
    public const string ParametersKeyword = "parameters";

    // Text in a hostile PNG may claim to inflate to anything; no infotext comes near this.
    private const int MaxInflatedTextBytes = 8 * 1024 * 1024;

    internal static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>Encodes planar RGB <paramref name="chw"/> ([3, height, width], values in [-1, 1]) as PNG bytes.</summary>
    /// <param name="parameters">The infotext, or null for no text chunk.</param>
    public static byte[] Encode(ReadOnlySpan<float> chw, int width, int height, string? parameters)
    {
        PixelMath.ValidateShape(chw.Length, 3, width, height, nameof(chw));
        var length = 3 * width * height;
        var rgb = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            PixelMath.PlanarToInterleaved(chw, rgb, width * height);
            return EncodeInterleaved(rgb.AsMemory(0, length), width, height, parameters);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgb);
        }
    }

    /// <summary>
    /// Encodes interleaved 8-bit RGB <paramref name="rgb"/> as PNG bytes (<see cref="PngWriter"/>). The PNG is written into
    /// a rented buffer of the largest size it can reach, so nothing grows and copies on the way; the one allocation is
    /// the returned array, of the PNG's exact size.
    /// </summary>
    public static byte[] EncodeInterleaved(Memory<byte> rgb, int width, int height, string? parameters)
    {
        using var png = EncodeInterleavedPooled(rgb, width, height, parameters);
        return png.Memory.ToArray();
    }

    /// <summary>
    /// <see cref="EncodeInterleaved"/> without the copy: the PNG stays in the rented buffer until the result is disposed,
    /// so a caller that only stores it (a worker) leaves no image-sized array behind (a PNG is usually over 85 KB: on the
    /// large-object heap, one per image would set off gen2 collections).
    /// </summary>
    public static PooledPng EncodeInterleavedPooled(Memory<byte> rgb, int width, int height, string? parameters)
    {
        PixelMath.ValidateShape(rgb.Length, 3, width, height, nameof(rgb));
        for (var bound = MaxLength(width, height, parameters); ; bound = checked(bound * 2))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(bound);
            try
            {
                return new PooledPng(buffer, PngWriter.Write(rgb.Span, width, height, parameters, ParametersKeyword, buffer));
            }
            catch (NotSupportedException)
            {
                // The bound was wrong (a zlib that expands more than its documented bound): a larger buffer still gives the image.
                ArrayPool<byte>.Shared.Return(buffer);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
        }
    }

    /// <summary>Encodes planar RGB <paramref name="chw"/> as PNG into <paramref name="destination"/>.</summary>
    /// <remarks>Values outside [-1, 1] are clamped, NaN becomes 0; each sample is round((x + 1) / 2 * 255).</remarks>
    public static void Encode(ReadOnlySpan<float> chw, int width, int height, string? parameters, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        PixelMath.ValidateShape(chw.Length, 3, width, height, nameof(chw));

        var pixelCount = width * height;
        var length = 3 * pixelCount;
        var rgb = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            PixelMath.PlanarToInterleaved(chw, rgb, pixelCount);
            using var png = EncodeInterleavedPooled(rgb.AsMemory(0, length), width, height, parameters);
            destination.Write(png.Memory.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgb);
        }
    }

    /// <summary>
    /// The most bytes a PNG of this size and text can take: the filtered rows (a filter byte each) as zlib stores what it
    /// cannot compress (its <c>compressBound</c>: 5 bytes per 16 KiB block at worst, here 1 per 256), the text chunk
    /// (UTF-8 at worst), signature, header, the IDAT and IEND chunks, and slack.
    /// </summary>
    internal static int MaxLength(int width, int height, string? parameters)
    {
        var raw = (long)height * (1 + (3L * width));
        var text = parameters is null ? 0 : PngWriter.MaxTextChunkLength(ParametersKeyword, parameters);
        return checked((int)(raw + (raw >> 8) + text + 4096));
    }

    /// <inheritdoc cref="ReadParameters(ReadOnlySpan{byte})"/>
    public static string? ReadParameters(byte[] png)
    {
        ArgumentNullException.ThrowIfNull(png);
        return ReadParameters(png.AsSpan());
    }

    /// <summary>
    /// The text of the first <c>parameters</c> chunk (tEXt, zTXt or iTXt, compressed or not), or null when there
    /// is none. Reads the chunk structure itself, without decoding pixels.
    /// </summary>
    /// <exception cref="InvalidImageException">Not a PNG, or its chunks are truncated.</exception>
    public static string? ReadParameters(ReadOnlySpan<byte> png)
    {
        if (!png.StartsWith(Signature))
        {
            throw new InvalidImageException(InvalidImageReason.UnknownFormat, "The data is not a PNG image.");
        }

        var offset = Signature.Length;
        while (offset + 12 <= png.Length)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(png[offset..]);
            var type = png.Slice(offset + 4, 4);
            if (length > (uint)(png.Length - offset - 12))
            {
                throw new InvalidImageException(InvalidImageReason.Corrupt, "The PNG is truncated inside a chunk.");
            }

            var data = png.Slice(offset + 8, (int)length);
            if (type.SequenceEqual("IEND"u8))
            {
                break;
            }

            var text = type.SequenceEqual("tEXt"u8) ? ReadText(data)
                : type.SequenceEqual("zTXt"u8) ? ReadCompressedText(data)
                : type.SequenceEqual("iTXt"u8) ? ReadInternationalText(data)
                : null;
            if (text is not null)
            {
                return text;
            }

            offset += 12 + (int)length;
        }

        return null;
    }

    // tEXt: keyword, NUL, Latin-1 text.
    private static string? ReadText(ReadOnlySpan<byte> data) =>
        SplitKeyword(data, out var rest) ? Encoding.Latin1.GetString(rest) : null;

    // zTXt: keyword, NUL, method (0 = zlib), zlib-compressed Latin-1 text.
    private static string? ReadCompressedText(ReadOnlySpan<byte> data)
    {
        if (!SplitKeyword(data, out var rest) || rest.IsEmpty || rest[0] != 0)
        {
            return null;
        }

        return Encoding.Latin1.GetString(Inflate(rest[1..]));
    }

    // iTXt: keyword, NUL, compression flag, method, language tag, NUL, translated keyword, NUL, UTF-8 text.
    private static string? ReadInternationalText(ReadOnlySpan<byte> data)
    {
        if (!SplitKeyword(data, out var rest) || rest.Length < 2)
        {
            return null;
        }

        var compressed = rest[0] == 1;
        rest = rest[2..];
        for (var field = 0; field < 2; field++)
        {
            var end = rest.IndexOf((byte)0);
            if (end < 0)
            {
                return null;
            }

            rest = rest[(end + 1)..];
        }

        return compressed ? Encoding.UTF8.GetString(Inflate(rest)) : Encoding.UTF8.GetString(rest);
    }

    private static bool SplitKeyword(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> rest)
    {
        var end = data.IndexOf((byte)0);
        if (end < 0 || !data[..end].SequenceEqual("parameters"u8))
        {
            rest = default;
            return false;
        }

        rest = data[(end + 1)..];
        return true;
    }

    private static byte[] Inflate(ReadOnlySpan<byte> compressed)
    {
        try
        {
            using var input = new MemoryStream(compressed.ToArray(), writable: false);
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = zlib.Read(buffer)) > 0)
            {
                if (output.Length + read > MaxInflatedTextBytes)
                {
                    throw new InvalidImageException(InvalidImageReason.TooLarge, "The PNG text chunk inflates past 8 MiB.");
                }

                output.Write(buffer, 0, read);
            }

            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The PNG text chunk is not valid zlib data.", e);
        }
    }
}
