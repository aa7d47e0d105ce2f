using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Turns an untrusted uploaded image (PNG, JPEG, WebP, BMP, GIF) into a <see cref="NormalizedImage"/> of the generation's
/// size, or straight into the planar [3, height, width] floats in [-1, 1] that img2img encodes with the VAE.
/// </summary>
/// <remarks>
/// <para>Guards, in order: the encoded size against <see cref="ImageLimits.MaxBytes"/>; for a PNG, every chunk but
/// the pixel chunks is dropped unread (<see cref="PngSanitizer"/>: text, ICC profiles, EXIF and the rest, the
/// compressed ones of which could inflate to any size); then the header, read by <c>Image.Identify</c> without
/// decoding pixels, against <see cref="ImageLimits.MaxSide"/> and <see cref="ImageLimits.MaxPixels"/>, so a few
/// kilobytes that declare 100000 x 100000 never allocate; only then the full decode, whose image data inflates to at
/// most what the checked header declares. Only the first frame of a GIF is decoded. Every failure is an
/// <see cref="InvalidImageException"/> with a message fit for the caller.</para>
/// <para>Fitting follows A1111's "Crop and resize": the image is scaled to cover the target and centre-cropped,
/// so the aspect ratio is kept and nothing is stretched. EXIF orientation (JPEG, WebP) is applied first, and
/// transparent pixels are flattened onto white, A1111's default img2img background.</para>
/// </remarks>
public static class InitImageLoader
{
    internal static readonly Configuration DecodeConfiguration = CreateConfiguration();

    /// <summary>Decodes, fits and converts <paramref name="encoded"/> to a new [3, height, width] array.</summary>
    /// <param name="limits">Bounds on the input; null for <see cref="ImageLimits.Default"/>.</param>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static float[] LoadChw(ReadOnlySpan<byte> encoded, int width, int height, ImageLimits? limits = null)
    {
        ValidateTarget(width, height);
        var chw = new float[3 * width * height];
        LoadChw(encoded, chw, width, height, limits);
        return chw;
    }

    /// <summary>Decodes, fits and converts <paramref name="encoded"/> into <paramref name="destination"/>.</summary>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static void LoadChw(
        ReadOnlySpan<byte> encoded, Span<float> destination, int width, int height, ImageLimits? limits = null)
    {
        ValidateTarget(width, height);
        PixelMath.ValidateShape(destination.Length, 3, width, height, nameof(destination));
        NormalizedImage.ToChw(Normalize(encoded, width, height, limits), destination, width, height);
    }

    /// <summary>
    /// Decodes <paramref name="encoded"/> once, within <paramref name="limits"/>, and returns it fitted to
    /// <paramref name="width"/> x <paramref name="height"/> as a <see cref="NormalizedImage"/>: what the API stores for a
    /// worker to use as it is.
    /// </summary>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static unsafe byte[] Normalize(ReadOnlySpan<byte> encoded, int width, int height, ImageLimits? limits = null)
    {
        ValidateTarget(width, height);
        limits ??= ImageLimits.Default;
        limits.Validate();

        if (encoded.Length > limits.MaxBytes)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge,
                $"The image is {encoded.Length} bytes; at most {limits.MaxBytes} are accepted.");
        }

        if (encoded.IsEmpty)
        {
            throw new InvalidImageException(InvalidImageReason.UnknownFormat, "The image is empty.");
        }

        if (PngSanitizer.IsPng(encoded))
        {
            return Fit(PngSanitizer.KeepPixelChunks(encoded, limits), width, height, limits);
        }

        fixed (byte* bytes = encoded)
        {
            using var stream = new UnmanagedMemoryStream(bytes, encoded.Length);
            return Fit(stream, width, height, limits);
        }
    }

    private static byte[] Fit(byte[] encoded, int width, int height, ImageLimits limits)
    {
        using var stream = new MemoryStream(encoded, writable: false);
        return Fit(stream, width, height, limits);
    }

    private static byte[] Fit(Stream stream, int width, int height, ImageLimits limits)
    {
        using var image = Decode(stream, limits);
        image.Mutate(context => context
            .AutoOrient()
            .Resize(new ResizeOptions
            {
                Size = new Size(width, height),
                Mode = ResizeMode.Crop,
                Position = AnchorPositionMode.Center,
                Sampler = KnownResamplers.Lanczos3,
            }));
        return ToNormalized(image);
    }

    /// <summary>
    /// Reads at most <see cref="ImageLimits.MaxBytes"/> from <paramref name="stream"/>, then loads as the span
    /// overload does. Synchronous reads: use <see cref="LoadChwAsync"/> for request bodies.
    /// </summary>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static float[] LoadChw(Stream stream, int width, int height, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= ImageLimits.Default;
        using var buffer = ReadBounded(stream, limits);
        return LoadChw(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), width, height, limits);
    }

    /// <summary>Reads <paramref name="stream"/> asynchronously (bounded), then decodes as <see cref="LoadChw(Stream, int, int, ImageLimits?)"/>.</summary>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static async Task<float[]> LoadChwAsync(
        Stream stream, int width, int height, ImageLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= ImageLimits.Default;
        limits.Validate();
        RejectKnownLength(stream, limits);

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            AppendBounded(buffer, chunk.AsSpan(0, read), limits);
        }

        return LoadChw(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), width, height, limits);
    }

    /// <summary>
    /// Decodes base64 image text, plain or as a data URL (<c>data:image/png;base64,...</c>), as A1111's API accepts.
    /// Whitespace inside the base64 is ignored. The decoded size is checked against the limits before decoding.
    /// </summary>
    /// <exception cref="InvalidImageException">Not base64, not an image data URL, empty, or too large.</exception>
    public static byte[] DecodeBase64(string text, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        limits ??= ImageLimits.Default;
        limits.Validate();

        var payload = text.AsSpan().Trim();
        if (payload.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = payload.IndexOf(',');
            var header = comma < 0 ? payload : payload[..comma];
            if (comma < 0
                || !header.StartsWith("data:image/", StringComparison.OrdinalIgnoreCase)
                || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidImageException(
                    InvalidImageReason.InvalidEncoding, "A data URL must have the form data:image/<type>;base64,<data>.");
            }

            payload = payload[(comma + 1)..];
        }

        if (payload.IsEmpty)
        {
            throw new InvalidImageException(InvalidImageReason.InvalidEncoding, "The base64 image is empty.");
        }

        // Every 4 characters decode to at most 3 bytes: refuse oversized text before allocating its bytes.
        if (payload.Length / 4 * 3 > limits.MaxBytes + 3)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge, $"The base64 image decodes to more than {limits.MaxBytes} bytes.");
        }

        var bytes = new byte[(payload.Length + 3) / 4 * 3];
        if (!Convert.TryFromBase64Chars(payload, bytes, out var written))
        {
            throw new InvalidImageException(InvalidImageReason.InvalidEncoding, "The image is not valid base64.");
        }

        if (written > limits.MaxBytes)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge, $"The image is {written} bytes; at most {limits.MaxBytes} are accepted.");
        }

        return written == bytes.Length ? bytes : bytes.AsSpan(0, written).ToArray();
    }

    private static Configuration CreateConfiguration()
    {
        // Only the formats we promise; TIFF, TGA and PBM decoders stay out of reach of uploads.
        var configuration = new Configuration(
            new PngConfigurationModule(),
            new JpegConfigurationModule(),
            new WebpConfigurationModule(),
            new BmpConfigurationModule(),
            new GifConfigurationModule());
        // Each further GIF frame would be another full canvas that the pixel budget does not count.
        configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        // The sanitiser has dropped a PNG's metadata chunks already; this keeps the decoder from reading any that it missed.
        configuration.ImageFormatsManager.SetDecoder(PngFormat.Instance, new PngDecoder { IgnoreMetadata = true });
        return configuration;
    }

    internal static Image<Rgba32> Decode(Stream stream, ImageLimits limits)
    {
        IImageInfo? info;
        try
        {
            info = Image.Identify(DecodeConfiguration, stream, out _);
        }
        catch (Exception e) when (IsDecoderFailure(e))
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The image header is corrupt.", e);
        }

        if (info is null)
        {
            throw new InvalidImageException(
                InvalidImageReason.UnknownFormat, "The data is not a PNG, JPEG, WebP, BMP or GIF image.");
        }

        if (info.Width <= 0 || info.Height <= 0)
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The image declares no pixels.");
        }

        CheckDimensions(info.Width, info.Height, limits);

        stream.Position = 0;
        try
        {
            return Image.Load<Rgba32>(DecodeConfiguration, stream);
        }
        catch (UnknownImageFormatException e)
        {
            throw new InvalidImageException(
                InvalidImageReason.UnknownFormat, "The data is not a PNG, JPEG, WebP, BMP or GIF image.", e);
        }
        catch (Exception e) when (IsDecoderFailure(e))
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The image data is corrupt or truncated.", e);
        }
    }

    /// <summary>Throws <see cref="InvalidImageReason.TooLarge"/> when declared dimensions exceed <paramref name="limits"/>.</summary>
    internal static void CheckDimensions(long width, long height, ImageLimits limits)
    {
        if (width > limits.MaxSide || height > limits.MaxSide || width * height > limits.MaxPixels)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge,
                $"The image is {width}x{height}; at most {limits.MaxPixels} pixels and {limits.MaxSide} on a side are accepted.");
        }
    }

    // Hostile input reaches decoder paths that fail with whatever exception is at hand, not only
    // ImageFormatException; all of them mean "this upload is bad", none should become a 500.
    internal static bool IsDecoderFailure(Exception e) =>
        e is ImageFormatException or InvalidMemoryOperationException or NotSupportedException
            or EndOfStreamException or ArgumentException or IndexOutOfRangeException or InvalidOperationException
            or OverflowException;

    private static byte[] ToNormalized(Image<Rgba32> image)
    {
        var normalized = NormalizedImage.Create(image.Width, image.Height);
        var rgb = normalized.AsSpan(NormalizedImage.HeaderLength);
        for (var y = 0; y < image.Height; y++)
        {
            var row = image.DangerousGetPixelRowMemory(y).Span;
            var line = rgb.Slice(3 * y * image.Width, 3 * image.Width);
            for (int x = 0, j = 0; x < row.Length; x++, j += 3)
            {
                var pixel = row[x];
                if (pixel.A == byte.MaxValue)
                {
                    line[j] = pixel.R;
                    line[j + 1] = pixel.G;
                    line[j + 2] = pixel.B;
                }
                else
                {
                    // Over white: (c * a + 255 * (255 - a)) / 255, rounded.
                    var white = byte.MaxValue * (byte.MaxValue - pixel.A);
                    line[j] = (byte)((pixel.R * pixel.A + white + 127) / 255);
                    line[j + 1] = (byte)((pixel.G * pixel.A + white + 127) / 255);
                    line[j + 2] = (byte)((pixel.B * pixel.A + white + 127) / 255);
                }
            }
        }

        return normalized;
    }

    private static MemoryStream ReadBounded(Stream stream, ImageLimits limits)
    {
        limits.Validate();
        RejectKnownLength(stream, limits);
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            AppendBounded(buffer, chunk.AsSpan(0, read), limits);
        }

        return buffer;
    }

    private static void RejectKnownLength(Stream stream, ImageLimits limits)
    {
        if (stream.CanSeek && stream.Length - stream.Position > limits.MaxBytes)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge,
                $"The image is {stream.Length - stream.Position} bytes; at most {limits.MaxBytes} are accepted.");
        }
    }

    private static void AppendBounded(MemoryStream buffer, ReadOnlySpan<byte> chunk, ImageLimits limits)
    {
        if (buffer.Length + chunk.Length > limits.MaxBytes)
        {
            throw new InvalidImageException(
                InvalidImageReason.TooLarge, $"The image is more than {limits.MaxBytes} bytes; that is the limit.");
        }

        buffer.Write(chunk);
    }

    private static void ValidateTarget(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
    }
}
