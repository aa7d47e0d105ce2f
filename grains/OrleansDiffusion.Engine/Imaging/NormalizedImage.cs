using System.Buffers.Binary;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// An init image after <see cref="InitImageLoader.Normalize"/>: the upload decoded once, oriented, fitted to the
/// generation's size and flattened onto white, kept as plain 8-bit RGB behind a 13-byte header (<c>ODPX</c>, version 1,
/// width and height as big-endian 32-bit integers). Whoever runs the generation reads these bytes as they are: no
/// decoder ever sees the user's file a second time, and nothing in them can inflate.
/// </summary>
public static class NormalizedImage
{
    public const int HeaderLength = 13;

    private const byte Version = 1;

    private static ReadOnlySpan<byte> Magic => "ODPX"u8;

    /// <summary>The size of a normalised image of <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static int LengthOf(int width, int height) => HeaderLength + checked(3 * width * height);

    /// <summary>Converts a normalised image to the planar [3, height, width] floats in [-1, 1] that img2img encodes.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a normalised image of exactly this size.</exception>
    public static float[] ToChw(ReadOnlySpan<byte> normalized, int width, int height)
    {
        var chw = new float[3 * width * height];
        ToChw(normalized, chw, width, height);
        return chw;
    }

    /// <summary>As <see cref="ToChw(ReadOnlySpan{byte}, int, int)"/>, into <paramref name="destination"/>.</summary>
    /// <exception cref="InvalidImageException">The bytes are not a normalised image of exactly this size.</exception>
    public static void ToChw(ReadOnlySpan<byte> normalized, Span<float> destination, int width, int height)
    {
        PixelMath.ValidateShape(destination.Length, 3, width, height, nameof(destination));
        if (normalized.Length != LengthOf(width, height)
            || !normalized.StartsWith(Magic)
            || normalized[4] != Version
            || BinaryPrimitives.ReadUInt32BigEndian(normalized[5..]) != (uint)width
            || BinaryPrimitives.ReadUInt32BigEndian(normalized[9..]) != (uint)height)
        {
            throw new InvalidImageException(
                InvalidImageReason.Corrupt, $"The stored init image is not a normalised {width}x{height} image.");
        }

        var plane = width * height;
        var rgb = normalized[HeaderLength..];
        var red = destination[..plane];
        var green = destination.Slice(plane, plane);
        var blue = destination.Slice(2 * plane, plane);
        for (int i = 0, j = 0; i < plane; i++, j += 3)
        {
            red[i] = PixelMath.ToUnit(rgb[j]);
            green[i] = PixelMath.ToUnit(rgb[j + 1]);
            blue[i] = PixelMath.ToUnit(rgb[j + 2]);
        }
    }

    /// <summary>A buffer with the header written; the interleaved RGB samples go after <see cref="HeaderLength"/>.</summary>
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
