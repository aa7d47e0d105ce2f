using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using ImageSharpPngEncoder = SixLabors.ImageSharp.Formats.Png.PngEncoder;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// Renders SD 1.x latents ([4, h, w]) to a small RGB image without the VAE, with the linear map A1111 calls
/// "Approx cheap". Made once per job: the pixel buffer, the image over it and the output stream are reused by
/// every <see cref="Render(ReadOnlySpan{float})"/>. Not thread-safe.
/// </summary>
/// <remarks>
/// Each pixel is <c>rgb = M^T l</c> with A1111's coefficients (<c>sd_vae_approx.cheap_approximation</c>), then
/// mapped like a decoded image: round((x + 1) / 2 * 255), clamped. A1111 truncates instead of rounding, so a
/// zero latent is 128 here and 127 there.
/// </remarks>
public sealed class LatentPreviewRenderer : IDisposable
{
    // Rows: latent channel; columns: R, G, B.
    private const float R0 = 0.298f, G0 = 0.207f, B0 = 0.208f;
    private const float R1 = 0.187f, G1 = 0.286f, B1 = 0.173f;
    private const float R2 = -0.158f, G2 = 0.189f, B2 = 0.264f;
    private const float R3 = -0.184f, G3 = -0.271f, B3 = -0.473f;

    private static readonly JpegEncoder JpegPreviewEncoder = new() { Quality = 80 };

    private static readonly ImageSharpPngEncoder PngPreviewEncoder = new()
    {
        ColorType = PngColorType.Rgb,
        BitDepth = PngBitDepth.Bit8,
        CompressionLevel = PngCompressionLevel.BestSpeed,
    };

    private readonly byte[] _pixels;
    private readonly Image<Rgb24> _image;
    private readonly IImageEncoder _encoder;
    private readonly MemoryStream _output = new();
    private bool _disposed;

    /// <param name="latentWidth">Latent width (image width / 8).</param>
    /// <param name="latentHeight">Latent height (image height / 8).</param>
    /// <param name="format">Encoding of the rendered preview.</param>
    /// <param name="scale">Nearest-neighbour upscale factor, 1 to 8; 1 renders at latent resolution.</param>
    public LatentPreviewRenderer(int latentWidth, int latentHeight, PreviewFormat format = PreviewFormat.Jpeg, int scale = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentHeight);
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(scale, 8);

        LatentWidth = latentWidth;
        LatentHeight = latentHeight;
        Scale = scale;
        Format = format;
        _encoder = format switch
        {
            PreviewFormat.Jpeg => JpegPreviewEncoder,
            PreviewFormat.Png => PngPreviewEncoder,
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown preview format."),
        };
        _pixels = new byte[checked(3 * Width * Height)];
        _image = Image.WrapMemory<Rgb24>(Configuration.Default, _pixels.AsMemory(), Width, Height);
    }

    public int LatentWidth { get; }

    public int LatentHeight { get; }

    public int Scale { get; }

    public PreviewFormat Format { get; }

    /// <summary>Width of the rendered image: latent width times <see cref="Scale"/>.</summary>
    public int Width => LatentWidth * Scale;

    /// <summary>Height of the rendered image: latent height times <see cref="Scale"/>.</summary>
    public int Height => LatentHeight * Scale;

    /// <summary>Renders one image's latents ([4, h, w], planar) and returns the encoded preview.</summary>
    public byte[] Render(ReadOnlySpan<float> latents)
    {
        _output.SetLength(0);
        Render(latents, _output);
        return _output.ToArray();
    }

    /// <summary>Renders one image's latents and writes the encoded preview to <paramref name="destination"/>.</summary>
    public void Render(ReadOnlySpan<float> latents, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Fill(latents);
        _image.Save(destination, _encoder);
    }

    /// <summary>Maps the latents into the pixel buffer; the part a caller could time without encoding.</summary>
    internal ReadOnlySpan<byte> Fill(ReadOnlySpan<float> latents)
    {
        PixelMath.ValidateShape(latents.Length, 4, LatentWidth, LatentHeight, nameof(latents));

        var plane = LatentWidth * LatentHeight;
        var l0 = latents[..plane];
        var l1 = latents.Slice(plane, plane);
        var l2 = latents.Slice(2 * plane, plane);
        var l3 = latents.Slice(3 * plane, plane);
        var pixels = _pixels.AsSpan();
        var rowBytes = 3 * Width;

        for (var y = 0; y < LatentHeight; y++)
        {
            var row = pixels.Slice(y * Scale * rowBytes, rowBytes);
            for (var x = 0; x < LatentWidth; x++)
            {
                var i = y * LatentWidth + x;
                float a = l0[i], b = l1[i], c = l2[i], d = l3[i];
                var red = PixelMath.ToByte(R0 * a + R1 * b + R2 * c + R3 * d);
                var green = PixelMath.ToByte(G0 * a + G1 * b + G2 * c + G3 * d);
                var blue = PixelMath.ToByte(B0 * a + B1 * b + B2 * c + B3 * d);
                for (int s = 0, o = 3 * x * Scale; s < Scale; s++, o += 3)
                {
                    row[o] = red;
                    row[o + 1] = green;
                    row[o + 2] = blue;
                }
            }

            for (var s = 1; s < Scale; s++)
            {
                row.CopyTo(pixels.Slice((y * Scale + s) * rowBytes, rowBytes));
            }
        }

        return pixels;
    }

    public void Dispose()
    {
        _disposed = true;
        _image.Dispose();
        _output.Dispose();
    }
}
