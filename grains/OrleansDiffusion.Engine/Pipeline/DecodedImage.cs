using System.Buffers;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// One image as the VAE decoded it, in interleaved 8-bit RGB, with the infotext its PNG will carry. The pixels live in a
/// pooled buffer until <see cref="Dispose"/>, so that encoding the PNG can happen after the engine has moved on (a worker
/// frees its inference slot first) without a 768 KiB (512x512) array per image.
/// </summary>
public sealed class DecodedImage : IDisposable
{
    private byte[]? _rgb;

    internal DecodedImage(byte[] rgb, long seed, int width, int height, string infotext)
    {
        _rgb = rgb;
        Seed = seed;
        Width = width;
        Height = height;
        Infotext = infotext;
    }

    public long Seed { get; }

    public int Width { get; }

    public int Height { get; }

    public string Infotext { get; }

    /// <summary>Interleaved RGB, row by row: <c>3 x Width x Height</c> bytes.</summary>
    public ReadOnlySpan<byte> Rgb => Pixels.Span;

    /// <summary>Encodes the PNG (with its <c>parameters</c> text chunk); the pixels stay until disposed.</summary>
    public GeneratedImage EncodePng() =>
        new(PngEncoder.EncodeInterleaved(Pixels, Width, Height, Infotext), Seed, Width, Height, Infotext);

    /// <summary>Encodes the PNG into a pooled buffer, for a caller that stores it and lets it go (the caller disposes it).</summary>
    public PooledPng EncodePooledPng() => PngEncoder.EncodeInterleavedPooled(Pixels, Width, Height, Infotext);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rgb, null) is { } rgb)
        {
            ArrayPool<byte>.Shared.Return(rgb);
        }
    }

    private Memory<byte> Pixels => (_rgb ?? throw new ObjectDisposedException(nameof(DecodedImage))).AsMemory(0, 3 * Width * Height);
}

/// <summary>The decoded images of one job and where its time went (no PNG encoding yet).</summary>
public sealed record DecodedResult(IReadOnlyList<DecodedImage> Images, StageTimings Timings) : IDisposable
{
    /// <summary>Encodes every image's PNG, timing it, and releases the pixels.</summary>
    public GenerationResult EncodePngs()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var images = new GeneratedImage[Images.Count];
        for (var i = 0; i < images.Length; i++)
        {
            images[i] = Images[i].EncodePng();
        }

        var timings = Timings with { PngEncoding = System.Diagnostics.Stopwatch.GetElapsedTime(started) };
        Dispose();
        return new GenerationResult(images, timings);
    }

    public void Dispose()
    {
        foreach (var image in Images)
        {
            image.Dispose();
        }
    }
}
