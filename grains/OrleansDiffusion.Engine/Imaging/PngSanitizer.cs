using System.Buffers.Binary;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Rewrites an untrusted PNG down to the chunks that make its pixels (IHDR, PLTE, tRNS, IDAT, IEND) before any decoder
/// sees it. Every other ancillary chunk is dropped unread: text (tEXt, zTXt, iTXt), iCCP, eXIf, APNG frames and
/// whatever else may come. The compressed ones are the danger: a 130 KB zTXt chunk inflates to 128 MB, and a decoder
/// that reads metadata inflates it whole, so the decoder must never be handed one. What is left inflates to at most
/// what the header declares, which the pixel limit bounds.
/// </summary>
internal static class PngSanitizer
{
    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>Largest PLTE (256 RGB entries) and tRNS (one alpha per palette entry) the specification allows.</summary>
    private const int MaxPalette = 256 * 3;
    private const int MaxTransparency = 256;

    private const int HeaderLength = 13;

    public static bool IsPng(ReadOnlySpan<byte> data) => data.StartsWith(Signature);

    /// <summary>
    /// The same image with only its pixel chunks, each copied with its CRC (the decoder checks them). The dimensions its
    /// header declares are checked against <paramref name="limits"/> first, before anything else is read.
    /// </summary>
    /// <exception cref="InvalidImageException">
    /// Too large, the chunk structure is broken, or a critical chunk is unknown.
    /// </exception>
    public static byte[] KeepPixelChunks(ReadOnlySpan<byte> png, ImageLimits limits)
    {
        using var output = new MemoryStream(png.Length);
        output.Write(Signature);
        var offset = Signature.Length;
        var first = true;
        var sawData = false;
        while (true)
        {
            if (png.Length - offset < 12)
            {
                throw Corrupt("The PNG ends before its IEND chunk.");
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(png[offset..]);
            if (length > (uint)(png.Length - offset - 12))
            {
                throw Corrupt("A PNG chunk runs past the end of the data.");
            }

            var chunk = png.Slice(offset, 12 + (int)length);
            var type = chunk.Slice(4, 4);
            offset += chunk.Length;
            if (first != type.SequenceEqual("IHDR"u8))
            {
                throw Corrupt("A PNG must start with its IHDR chunk, once.");
            }

            if (first)
            {
                if (length != HeaderLength)
                {
                    throw Corrupt("The PNG header chunk has the wrong length.");
                }

                var header = chunk.Slice(8, HeaderLength);
                InitImageLoader.CheckDimensions(
                    BinaryPrimitives.ReadUInt32BigEndian(header), BinaryPrimitives.ReadUInt32BigEndian(header[4..]), limits);
                first = false;
            }

            if (type.SequenceEqual("IEND"u8))
            {
                if (!sawData)
                {
                    throw Corrupt("The PNG has no image data.");
                }

                output.Write(chunk);
                return output.ToArray();
            }

            if (type.SequenceEqual("IHDR"u8) || type.SequenceEqual("IDAT"u8))
            {
                sawData |= type.SequenceEqual("IDAT"u8);
                output.Write(chunk);
            }
            else if (type.SequenceEqual("PLTE"u8) || type.SequenceEqual("tRNS"u8))
            {
                if (length > (type.SequenceEqual("PLTE"u8) ? MaxPalette : MaxTransparency))
                {
                    throw Corrupt("The PNG palette or transparency chunk is larger than 256 entries.");
                }

                output.Write(chunk);
            }
            else if (IsCritical(type))
            {
                // The specification says a decoder must refuse an unknown critical chunk: it changes what the data means.
                throw Corrupt("The PNG has a critical chunk this server does not know.");
            }

            // Any other chunk is ancillary: skipped, never read.
        }
    }

    // Bit 5 of the first type byte is 0 (an upper-case letter) for a critical chunk.
    private static bool IsCritical(ReadOnlySpan<byte> type) => (type[0] & 0x20) == 0;

    private static InvalidImageException Corrupt(string message) => new(InvalidImageReason.Corrupt, message);
}
