using System.Diagnostics;
using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Imaging;

/// <summary>Uploaded masks: the two conventions, invert, blur, fitting, and the refusals.</summary>
public sealed class MaskLoaderTests
{
    private static readonly MaskOptions White = new();

    private static byte[] Png<TPixel>(int width, int height, Func<int, int, TPixel> pixel)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using var image = new Image<TPixel>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image[x, y] = pixel(x, y);
            }
        }

        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    private static byte[] Samples(byte[] normalized) => normalized[NormalizedMask.HeaderLength..];

    private static bool InSquare(int x, int y) => x is >= 8 and < 24 && y is >= 8 and < 24;

    [Fact]
    public void White_repaints_and_black_keeps()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        var samples = Samples(MaskLoader.Normalize(png, (32, 32), 32, 32, White));

        Assert.All(Enumerable.Range(0, 32 * 32), p => Assert.Equal(InSquare(p % 32, p / 32) ? 255 : 0, samples[p]));
        Assert.Equal(1f, NormalizedMask.ToPlane(MaskLoader.Normalize(png, (32, 32), 32, 32, White), 32, 32)[(10 * 32) + 10]);
    }

    [Fact]
    public void Grey_is_its_luminance_and_a_transparent_canvas_marks_with_its_opaque_strokes()
    {
        var grey = Samples(MaskLoader.Normalize(Png(16, 16, (_, _) => new Rgb24(200, 100, 50)), null, 16, 16, White));
        Assert.All(grey, v => Assert.Equal(124, v)); // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.4

        // A mask drawn on a transparent canvas: the strokes (opaque, black or not) repaint.
        var canvas = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgba32(0, 0, 0, 255) : new Rgba32(255, 255, 255, 0));
        var samples = Samples(MaskLoader.Normalize(canvas, (32, 32), 32, 32, White));
        Assert.All(Enumerable.Range(0, 32 * 32), p => Assert.Equal(InSquare(p % 32, p / 32) ? 255 : 0, samples[p]));
    }

    [Fact]
    public void With_the_openai_convention_transparent_pixels_repaint()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgba32(0, 0, 0, 0) : new Rgba32(10, 200, 10, 255));

        var samples = Samples(MaskLoader.Normalize(png, (32, 32), 32, 32, new MaskOptions { Convention = MaskConvention.TransparentRepaints }));

        Assert.All(Enumerable.Range(0, 32 * 32), p => Assert.Equal(InSquare(p % 32, p / 32) ? 255 : 0, samples[p]));
    }

    [Fact]
    public void Invert_swaps_what_is_repainted_and_what_is_kept()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        var samples = Samples(MaskLoader.Normalize(png, (32, 32), 32, 32, White with { Invert = true }));

        Assert.All(Enumerable.Range(0, 32 * 32), p => Assert.Equal(InSquare(p % 32, p / 32) ? 0 : 255, samples[p]));
    }

    [Fact]
    public void Blur_is_a1111s_opencv_gaussian_across_and_down()
    {
        // One white column: across, it spreads into A1111's kernel of 2 * int(2.5 * 4 + 0.5) + 1 = 21 taps; down, nothing changes.
        var png = Png(64, 8, (x, _) => x == 32 ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        var samples = Samples(MaskLoader.Normalize(png, null, 64, 8, White with { BlurX = 4, BlurY = 4 }));

        var kernel = Enumerable.Range(-10, 21).Select(i => Math.Exp(-(i * i) / 32.0)).ToArray();
        var sum = kernel.Sum();
        for (var x = 0; x < 64; x++)
        {
            var expected = Math.Abs(x - 32) <= 10 ? (int)Math.Round(255 * kernel[x - 32 + 10] / sum, MidpointRounding.AwayFromZero) : 0;
            Assert.All(Enumerable.Range(0, 8), y => Assert.Equal(expected, samples[(y * 64) + x]));
        }
    }

    [Fact]
    public void A_mask_is_fitted_to_the_generation_as_the_init_image_is()
    {
        // A 128 x 64 mask with its right half white, for a 64 x 64 generation: cropped to its centre square.
        var png = Png(128, 64, (x, _) => x >= 64 ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        var samples = Samples(MaskLoader.Normalize(png, (128, 64), 64, 64, White));

        Assert.Equal(0, samples[(32 * 64) + 4]);
        Assert.Equal(255, samples[(32 * 64) + 60]);
    }

    [Fact]
    public void A_mask_of_another_size_than_the_image_an_empty_mask_and_a_non_image_are_refused()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        Assert.Equal(InvalidImageReason.WrongSize, Assert.Throws<InvalidImageException>(() => MaskLoader.Normalize(png, (64, 32), 32, 32, White)).Reason);
        var empty = Png(32, 32, (_, _) => new Rgb24(0, 0, 0));
        Assert.Equal(InvalidImageReason.EmptyMask, Assert.Throws<InvalidImageException>(() => MaskLoader.Normalize(empty, (32, 32), 32, 32, White)).Reason);
        var opaque = Png(32, 32, (_, _) => new Rgba32(1, 2, 3, 255));
        Assert.Equal(InvalidImageReason.EmptyMask, Assert.Throws<InvalidImageException>(() => MaskLoader.Normalize(opaque, (32, 32), 32, 32, new MaskOptions { Convention = MaskConvention.TransparentRepaints })).Reason);
        Assert.Equal(InvalidImageReason.UnknownFormat, Assert.Throws<InvalidImageException>(() => MaskLoader.Normalize("not an image"u8, (32, 32), 32, 32, White)).Reason);
        Assert.Throws<ArgumentOutOfRangeException>(() => MaskLoader.Normalize(png, (32, 32), 32, 32, White with { BlurX = 65 }));
    }

    [Fact]
    public void The_size_of_an_image_is_read_as_it_is_shown()
    {
        using var image = new Image<Rgb24>(40, 24);
        image.Metadata.ExifProfile = new ExifProfile();
        image.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6); // turned a quarter
        using var stream = new MemoryStream();
        image.Save(stream, new JpegEncoder());

        Assert.Equal((24, 40), MaskLoader.SizeOf(stream.ToArray()));
        Assert.Equal((32, 16), MaskLoader.SizeOf(Png(32, 16, (_, _) => new Rgb24(0, 0, 0))));
    }

    [Fact]
    public void A_stored_mask_of_another_size_is_refused()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));
        var normalized = MaskLoader.Normalize(png, (32, 32), 32, 32, White);

        Assert.Throws<InvalidImageException>(() => NormalizedMask.ToPlane(normalized, 16, 64));
        Assert.Throws<InvalidImageException>(() => NormalizedMask.ToPlane(normalized[..^1], 32, 32));
    }

    [Fact]
    public void A_mask_png_reaches_the_decoder_with_its_pixel_chunks_only()
    {
        var png = Png(32, 32, (x, y) => InSquare(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

        // An unknown critical chunk, which a decoder would skip, is refused by the chunk filter as it is for init images.
        var unknownCritical = PngChunks.InsertAfterHeader(png, "CgBI", new byte[4]);
        Assert.Equal(InvalidImageReason.Corrupt, Assert.Throws<InvalidImageException>(() => MaskLoader.Normalize(unknownCritical, (32, 32), 32, 32, White)).Reason);
        Assert.Equal(InvalidImageReason.Corrupt, Assert.Throws<InvalidImageException>(() => MaskLoader.SizeOf(unknownCritical)).Reason);

        // A metadata chunk that inflates to 128 MB is dropped unread, in the header read and in the decode.
        var hostile = PngChunks.InsertAfterHeader(png, "zTXt", [.. "Comment\0"u8, 0, .. PngChunks.ZlibZeros(128L << 20)]);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        var size = MaskLoader.SizeOf(hostile);
        var normalized = MaskLoader.Normalize(hostile, size, 32, 32, White);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.True(allocated < 16 << 20, $"reading the mask allocated {allocated / (1 << 20)} MB");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"reading the mask took {elapsed}");
        Assert.Equal(MaskLoader.Normalize(png, (32, 32), 32, 32, White), normalized);
    }
}
