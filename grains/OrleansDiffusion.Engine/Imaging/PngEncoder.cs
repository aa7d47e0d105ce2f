using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using ImageSharpPngEncoder = SixLabors.ImageSharp.Formats.Png.PngEncoder;

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

    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    private static readonly ImageSharpPngEncoder Encoder = new()
    {
        ColorType = PngColorType.Rgb,
        BitDepth = PngBitDepth.Bit8,
        // Level 3 with adaptive filters: about 4x faster than the default level 6 (ImageSharp's managed deflate is the
        // slowest stage of a tiny-model job) at the cost of a somewhat larger file.
        CompressionLevel = PngCompressionLevel.Level3,
        FilterMethod = PngFilterMethod.Adaptive,
        // Never zTXt: readers that only know tEXt (and people with a hex editor) still see the parameters.
        TextCompressionThreshold = int.MaxValue,
    };

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
    /// Encodes interleaved 8-bit RGB <paramref name="rgb"/> as PNG bytes. The encoder writes into a rented buffer of the
    /// largest size the PNG can reach (stored deflate blocks, every chunk header, the text), so nothing grows and
    /// copies on the way; the one allocation is the returned array, of the PNG's exact size.
    /// </summary>
    public static byte[] EncodeInterleaved(Memory<byte> rgb, int width, int height, string? parameters)
    {
        PixelMath.ValidateShape(rgb.Length, 3, width, height, nameof(rgb));
        var bound = MaxLength(width, height, parameters);
        var buffer = ArrayPool<byte>.Shared.Rent(bound);
        try
        {
            using var stream = new MemoryStream(buffer, 0, bound, writable: true);
            Save(rgb, width, height, parameters, stream);
            return buffer.AsSpan(0, (int)stream.Position).ToArray();
        }
        catch (NotSupportedException)
        {
            // The bound is wrong for some encoder setting: a growing stream still gives the image.
            using var growing = new MemoryStream();
            Save(rgb, width, height, parameters, growing);
            return growing.ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
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
            Save(rgb.AsMemory(0, length), width, height, parameters, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rgb);
        }
    }

    /// <summary>
    /// The most bytes a PNG of this size and text can take: the filtered rows (a filter byte each) in stored deflate
    /// blocks (5 bytes per block of at least 16 KiB, zlib's bound), IDAT chunk headers (12 bytes per 8 KiB at least),
    /// the text chunk (UTF-8 at worst), signature, header, end, and slack.
    /// </summary>
    internal static int MaxLength(int width, int height, string? parameters)
    {
        var raw = (long)height * (1 + (3L * width));
        var text = parameters is null ? 0 : Encoding.UTF8.GetMaxByteCount(parameters.Length) + ParametersKeyword.Length + 32;
        return checked((int)(raw + (raw >> 8) + text + 4096));
    }

    private static void Save(Memory<byte> rgb, int width, int height, string? parameters, Stream destination)
    {
        using var image = Image.WrapMemory<Rgb24>(Configuration.Default, rgb, width, height);
        if (parameters is not null)
        {
            image.Metadata.GetPngMetadata().TextData.Add(new PngTextData(ParametersKeyword, parameters, "", ""));
        }

        image.Save(destination, Encoder);
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
