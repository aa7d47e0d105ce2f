using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;

namespace OrleansDiffusion.Api.Imaging;

/// <summary>
/// How an image leaves the API: PNG as stored, or JPEG or WebP at a quality of 0-100 (OpenAI's
/// <c>output_compression</c>: 100, its default, is the best quality). The stored image stays a PNG.
/// </summary>
public sealed record ImageEncoding
{
    public const int MaxQuality = 100;

    /// <summary>The names <see cref="FormatName"/> accepts, for error messages.</summary>
    public const string Names = "'png', 'jpeg' or 'webp'";

    public static readonly ImageEncoding Png = new("png", MaxQuality);

    private ImageEncoding(string format, int quality)
    {
        Format = format;
        Quality = quality;
    }

    /// <summary><c>png</c>, <c>jpeg</c> or <c>webp</c>.</summary>
    public string Format { get; }

    /// <summary>0-100 (100 for PNG, which is lossless).</summary>
    public int Quality { get; }

    public bool IsPng => Format == "png";

    public string MediaType => $"image/{Format}";

    /// <summary>The canonical name of a format this API writes (null means PNG; <c>jpg</c> is <c>jpeg</c>), or null for any other.</summary>
    public static string? FormatName(string? format) => format?.ToLowerInvariant() switch
    {
        null or "png" => "png",
        "jpeg" or "jpg" => "jpeg",
        "webp" => "webp",
        _ => null,
    };

    /// <summary>Whether <paramref name="quality"/> is absent or within 0-100.</summary>
    public static bool IsQuality(int? quality) => quality is null or (>= 0 and <= MaxQuality);

    /// <summary>The encoding of a format <see cref="FormatName"/> accepts, at a quality <see cref="IsQuality"/> accepts (null: 100).</summary>
    public static ImageEncoding Create(string? format, int? quality)
    {
        var name = FormatName(format) ?? throw new ArgumentException($"'{format}' is not an output format; use {Names}.", nameof(format));
        if (!IsQuality(quality))
        {
            throw new ArgumentOutOfRangeException(nameof(quality), quality, $"The quality must be between 0 and {MaxQuality}.");
        }

        return name == "png" ? Png : new ImageEncoding(name, quality ?? MaxQuality);
    }

    /// <summary>The ImageSharp encoder: lossy WebP and baseline JPEG at <see cref="Quality"/>; PNG as 8-bit RGB.</summary>
    public IImageEncoder Encoder() => Format switch
    {
        "jpeg" => new JpegEncoder { Quality = Math.Max(1, Quality) },
        "webp" => new WebpEncoder { FileFormat = WebpFileFormatType.Lossy, Quality = Quality },
        _ => new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 },
    };
}
