using System.Buffers.Binary;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// A mask after <see cref="MaskLoader.Normalize"/>: decoded once, converted to "how much to repaint" (255 repaints,
/// 0 keeps), inverted and blurred as asked, and fitted to the generation's size, as plain 8-bit samples behind a
/// 13-byte header (<c>ODMK</c>, version 1, width and height as big-endian 32-bit integers). What the API stores and a
/// worker reads as it is: no decoder sees the upload twice.
/// </summary>
public static class NormalizedMask
{
    public const int HeaderLength = 13;

    private const byte Version = 1;

    private static ReadOnlySpan<byte> Magic => "ODMK"u8;

    /// <summary>The size of a normalised mask of <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static int LengthOf(int width, int height) => HeaderLength + checked(width * height);

    /// <summary>The mask as <c>[height, width]</c> floats in [0, 1], 1 repainting: what the engine takes.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a normalised mask of exactly this size.</exception>
    public static float[] ToPlane(ReadOnlySpan<byte> normalized, int width, int height)
    {
        if (normalized.Length != LengthOf(width, height)
            || !normalized.StartsWith(Magic)
            || normalized[4] != Version
            || BinaryPrimitives.ReadUInt32BigEndian(normalized[5..]) != (uint)width
            || BinaryPrimitives.ReadUInt32BigEndian(normalized[9..]) != (uint)height)
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, $"The stored mask is not a normalised {width}x{height} mask.");
        }

        var samples = normalized[HeaderLength..];
        var plane = new float[samples.Length];
        for (var i = 0; i < samples.Length; i++)
        {
            plane[i] = samples[i] / 255f;
        }

        return plane;
    }

    /// <summary>A buffer with the header written; the samples go after <see cref="HeaderLength"/>.</summary>
    internal static byte[] Create(int width, int height)
    {
        var bytes = new byte[LengthOf(width, height)];
        Magic.CopyTo(bytes);
        bytes[4] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(5), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(9), (uint)height);
        return bytes;
    }
}
