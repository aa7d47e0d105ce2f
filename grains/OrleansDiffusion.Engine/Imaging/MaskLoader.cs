using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Turns an untrusted uploaded inpainting mask into a <see cref="NormalizedMask"/> of the generation's size, under the
/// guards of <see cref="InitImageLoader"/> (byte size, a PNG's ancillary chunks dropped unread by
/// <see cref="PngSanitizer"/>, declared dimensions, then the decode).
/// </summary>
/// <remarks>
/// In order: the mask is decoded and oriented as the init image is, and must then have the init image's size; it is
/// read by its <see cref="MaskConvention"/>, inverted if asked, fitted to the generation's size as the init image is
/// ("crop and resize", bilinear so that a hard edge stays a clean ramp) and blurred (AUTOMATIC1111 blurs before it
/// fits; for the usual mask of the generation's size the two are the same). A mask that then repaints nothing is
/// refused: it would return the init image unchanged at the price of a generation.
/// </remarks>
public static class MaskLoader
{
    /// <summary>The width and height of an uploaded image as it is shown (EXIF orientation applied), from its header.</summary>
    /// <exception cref="InvalidImageException">Too large, not an accepted format, or corrupt.</exception>
    public static (int Width, int Height) SizeOf(ReadOnlySpan<byte> encoded, ImageLimits? limits = null)
    {
        limits ??= ImageLimits.Default;
        using var image = Decode(encoded, limits, identifyOnly: true, out var size);
        return size;
    }

    /// <summary>Decodes and prepares <paramref name="encoded"/> as a mask for a <paramref name="width"/> x <paramref name="height"/> generation.</summary>
    /// <param name="imageSize">The size of the image the mask belongs to (see <see cref="SizeOf"/>); null to skip the check.</param>
    /// <exception cref="InvalidImageException">Not an image, over the limits, not the image's size, or repainting nothing.</exception>
    public static byte[] Normalize(
        ReadOnlySpan<byte> encoded, (int Width, int Height)? imageSize, int width, int height, MaskOptions options, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        options.Validate();
        limits ??= ImageLimits.Default;

        using var image = Decode(encoded, limits, identifyOnly: false, out var size)!;
        if (imageSize is { } expected && expected != size)
        {
            throw new InvalidImageException(
                InvalidImageReason.WrongSize, $"The mask is {size.Width}x{size.Height}; it must have the size of the image, {expected.Width}x{expected.Height}.");
        }

        using var mask = new Image<L8>(size.Width, size.Height);
        Convert(image, mask, options);
        mask.Mutate(context => context.Resize(new ResizeOptions
        {
            Size = new Size(width, height),
            Mode = ResizeMode.Crop,
            Position = AnchorPositionMode.Center,
            Sampler = KnownResamplers.Triangle,
        }));

        var normalized = NormalizedMask.Create(width, height);
        var samples = normalized.AsSpan(NormalizedMask.HeaderLength);
        for (var y = 0; y < height; y++)
        {
            var row = mask.DangerousGetPixelRowMemory(y).Span;
            for (var x = 0; x < width; x++)
            {
                samples[(y * width) + x] = row[x].PackedValue;
            }
        }

        MaskBlur.Apply(samples, width, height, options.BlurX, options.BlurY);
        if (!samples.ContainsAnyExcept((byte)0))
        {
            throw new InvalidImageException(
                InvalidImageReason.EmptyMask,
                options.Convention == MaskConvention.TransparentRepaints
                    ? "The mask has no transparent pixel: it marks nothing to edit."
                    : "The mask marks nothing to repaint: white (or, on a transparent mask, opaque) pixels are repainted.");
        }

        return normalized;
    }

    private static void Convert(Image<Rgba32> image, Image<L8> mask, MaskOptions options)
    {
        var transparent = false;
        for (var y = 0; y < image.Height && !transparent; y++)
        {
            foreach (var pixel in image.DangerousGetPixelRowMemory(y).Span)
            {
                transparent |= pixel.A != byte.MaxValue;
            }
        }

        for (var y = 0; y < image.Height; y++)
        {
            var source = image.DangerousGetPixelRowMemory(y).Span;
            var target = mask.DangerousGetPixelRowMemory(y).Span;
            for (var x = 0; x < source.Length; x++)
            {
                var p = source[x];
                var repaint = options.Convention switch
                {
                    MaskConvention.TransparentRepaints => (byte)(byte.MaxValue - p.A),
                    _ when transparent => p.A > 128 ? byte.MaxValue : (byte)0,
                    // PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded.
                    _ => (byte)(((p.R * 19595) + (p.G * 38470) + (p.B * 7471) + 0x8000) >> 16),
                };
                target[x] = new L8(options.Invert ? (byte)(byte.MaxValue - repaint) : repaint);
            }
        }
    }

    private static unsafe Image<Rgba32>? Decode(ReadOnlySpan<byte> encoded, ImageLimits limits, bool identifyOnly, out (int Width, int Height) size)
    {
        limits.Validate();
        if (encoded.Length > limits.MaxBytes)
        {
            throw new InvalidImageException(InvalidImageReason.TooLarge, $"The image is {encoded.Length} bytes; at most {limits.MaxBytes} are accepted.");
        }

        if (encoded.IsEmpty)
        {
            throw new InvalidImageException(InvalidImageReason.UnknownFormat, "The image is empty.");
        }

        if (PngSanitizer.IsPng(encoded))
        {
            // As for init images: the decoder, even one that only identifies, never sees a PNG's ancillary chunks.
            var pixelsOnly = PngSanitizer.KeepPixelChunks(encoded, limits);
            using var sanitized = new MemoryStream(pixelsOnly, writable: false);
            return Decode(sanitized, limits, identifyOnly, out size);
        }

        fixed (byte* bytes = encoded)
        {
            using var stream = new UnmanagedMemoryStream(bytes, encoded.Length);
            return Decode(stream, limits, identifyOnly, out size);
        }
    }

    private static Image<Rgba32>? Decode(Stream stream, ImageLimits limits, bool identifyOnly, out (int Width, int Height) size)
    {
        if (identifyOnly)
        {
            size = Identify(stream, limits);
            return null;
        }

        var image = InitImageLoader.Decode(stream, limits);
        image.Mutate(context => context.AutoOrient());
        size = (image.Width, image.Height);
        return image;
    }

    private static (int Width, int Height) Identify(Stream stream, ImageLimits limits)
    {
        IImageInfo? info;
        try
        {
            info = Image.Identify(InitImageLoader.DecodeConfiguration, stream, out _);
        }
        catch (Exception e) when (InitImageLoader.IsDecoderFailure(e))
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The image header is corrupt.", e);
        }

        if (info is null)
        {
            throw new InvalidImageException(InvalidImageReason.UnknownFormat, "The data is not a PNG, JPEG, WebP, BMP or GIF image.");
        }

        if (info.Width <= 0 || info.Height <= 0)
        {
            throw new InvalidImageException(InvalidImageReason.Corrupt, "The image declares no pixels.");
        }

        // EXIF orientations 5 to 8 turn the picture a quarter: width and height change places once it is oriented.
        var swap = info.Metadata.ExifProfile?.GetValue(ExifTag.Orientation)?.Value is >= 5 and <= 8;
        return swap ? (info.Height, info.Width) : (info.Width, info.Height);
    }
}
