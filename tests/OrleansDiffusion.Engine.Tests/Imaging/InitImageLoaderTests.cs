using System.Diagnostics;
using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;
using ImageSharpPngEncoder = SixLabors.ImageSharp.Formats.Png.PngEncoder;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class InitImageLoaderTests
{
    private const float OneLevel = 1f / 255f * 2f; // One 8-bit step in [-1, 1] units.

    private static byte[] Encode<TPixel>(Image<TPixel> image, IImageEncoder encoder)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using var stream = new MemoryStream();
        image.Save(stream, encoder);
        return stream.ToArray();
    }

    private static Image<Rgb24> GradientImage(int width, int height)
    {
        var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image[x, y] = new Rgb24((byte)(x * 255 / (width - 1)), (byte)(y * 255 / (height - 1)), (byte)((x + y) % 256));
            }
        }

        return image;
    }

    private static byte[] SolidPng(int width, int height, Rgba32 colour)
    {
        using var image = new Image<Rgba32>(width, height, colour);
        return Encode(image, new ImageSharpPngEncoder());
    }

    private static InvalidImageException Rejected(byte[] bytes, ImageLimits? limits = null) =>
        Assert.Throws<InvalidImageException>(() => InitImageLoader.LoadChw(bytes, 64, 64, limits));

    [Fact]
    public void Gradient_png_round_trips_to_chw_within_one_level()
    {
        const int width = 48, height = 32, plane = width * height;
        using var image = GradientImage(width, height);

        var chw = InitImageLoader.LoadChw(Encode(image, new ImageSharpPngEncoder()), width, height);

        Assert.Equal(3 * plane, chw.Length);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var pixel = image[x, y];
                var i = y * width + x;
                Assert.InRange(chw[i] - (pixel.R / 127.5f - 1f), -OneLevel / 2, OneLevel / 2);
                Assert.InRange(chw[plane + i] - (pixel.G / 127.5f - 1f), -OneLevel / 2, OneLevel / 2);
                Assert.InRange(chw[2 * plane + i] - (pixel.B / 127.5f - 1f), -OneLevel / 2, OneLevel / 2);
            }
        }
    }

    [Fact]
    public void Our_own_png_loads_back_to_the_values_encoded()
    {
        const int width = 16, height = 8;
        var chw = Enumerable.Range(0, 3 * width * height).Select(i => MathF.Sin(i * 0.37f)).ToArray();

        var loaded = InitImageLoader.LoadChw(Engine.Imaging.PngEncoder.Encode(chw, width, height, "x"), width, height);

        for (var i = 0; i < chw.Length; i++)
        {
            Assert.InRange(loaded[i] - chw[i], -OneLevel, OneLevel);
        }
    }

    [Fact]
    public void A_wide_image_is_centre_cropped_not_stretched()
    {
        // 200 x 100: blue | green (the middle 100 columns) | red. Covering 64 x 64 keeps only the green middle.
        using var image = new Image<Rgb24>(200, 100);
        for (var y = 0; y < 100; y++)
        {
            for (var x = 0; x < 200; x++)
            {
                image[x, y] = x < 50 ? new Rgb24(0, 0, 255) : x < 150 ? new Rgb24(0, 255, 0) : new Rgb24(255, 0, 0);
            }
        }

        var chw = InitImageLoader.LoadChw(Encode(image, new ImageSharpPngEncoder()), 64, 64);

        Assert.Equal(3 * 64 * 64, chw.Length);
        const int plane = 64 * 64;
        for (var y = 0; y < 64; y++)
        {
            for (var x = 4; x < 60; x++)
            {
                var i = y * 64 + x;
                Assert.InRange(chw[i], -1f, -0.9f);
                Assert.InRange(chw[plane + i], 0.9f, 1f);
                Assert.InRange(chw[2 * plane + i], -1f, -0.9f);
            }
        }
    }

    [Fact]
    public void A_small_image_is_upscaled_to_the_requested_size()
    {
        var chw = InitImageLoader.LoadChw(SolidPng(10, 20, new Rgba32(255, 0, 0)), 96, 64);

        Assert.Equal(3 * 96 * 64, chw.Length);
        Assert.All(chw.AsSpan(0, 96 * 64).ToArray(), red => Assert.InRange(red, 1f - OneLevel, 1f));
    }

    public static TheoryData<string> Formats() => ["png", "jpeg", "webp", "bmp", "gif"];

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_accepted_format_decodes(string format)
    {
        IImageEncoder encoder = format switch
        {
            "png" => new ImageSharpPngEncoder(),
            "jpeg" => new JpegEncoder { Quality = 95 },
            "webp" => new WebpEncoder { FileFormat = WebpFileFormatType.Lossless },
            "bmp" => new BmpEncoder(),
            _ => new GifEncoder(),
        };
        using var image = new Image<Rgb24>(40, 30, new Rgb24(0, 0, 255));

        var chw = InitImageLoader.LoadChw(Encode(image, encoder), 40, 30);

        const int plane = 40 * 30;
        Assert.InRange(chw[plane / 2], -1f, -0.95f);
        Assert.InRange(chw[2 * plane + plane / 2], 0.95f, 1f);
    }

    [Fact]
    public void Transparent_pixels_are_flattened_onto_white()
    {
        var chw = InitImageLoader.LoadChw(SolidPng(8, 8, new Rgba32(0, 0, 0, 0)), 8, 8);

        Assert.All(chw, value => Assert.Equal(1f, value));
    }

    [Fact]
    public void Bytes_over_the_limit_are_rejected_before_decoding()
    {
        var png = SolidPng(64, 64, new Rgba32(1, 2, 3));

        var error = Rejected(png, new ImageLimits { MaxBytes = png.Length - 1 });

        Assert.Equal(InvalidImageReason.TooLarge, error.Reason);
    }

    [Fact]
    public void A_stream_over_the_limit_is_rejected_without_reading_it_all()
    {
        using var stream = new NonSeekableStream(new byte[1024]);

        var error = Assert.Throws<InvalidImageException>(
            () => InitImageLoader.LoadChw(stream, 64, 64, new ImageLimits { MaxBytes = 100 }));

        Assert.Equal(InvalidImageReason.TooLarge, error.Reason);
    }

    [Fact]
    public async Task A_stream_is_read_asynchronously_and_decoded()
    {
        using var stream = new NonSeekableStream(SolidPng(16, 16, new Rgba32(0, 255, 0)));

        var chw = await InitImageLoader.LoadChwAsync(stream, 8, 8, cancellationToken: TestContext.Current.CancellationToken);

        Assert.InRange(chw[64], 1f - OneLevel, 1f);
    }

    [Fact]
    public void A_decompression_bomb_is_rejected_from_its_header()
    {
        // A few dozen bytes claiming 100000 x 100000 RGBA (40 GB decoded) with a token IDAT.
        var bomb = PngChunks.Build(100_000, 100_000, 8, 6, PngChunks.Zlib(new byte[64]));
        Assert.True(bomb.Length < 200);

        var error = Rejected(bomb);

        Assert.Equal(InvalidImageReason.TooLarge, error.Reason);
        Assert.Contains("100000x100000", error.Message, StringComparison.Ordinal);
    }

    /// <summary>128 MB of zeros, deflated: about 128 KB. Built once, it takes a moment.</summary>
    private static readonly Lazy<byte[]> InflatesTo128MB = new(() => PngChunks.ZlibZeros(128L << 20));

    public static TheoryData<string> CompressedMetadataChunks() => ["zTXt", "iTXt", "iCCP"];

    private static byte[] CompressedChunk(string type) => type switch
    {
        // keyword NUL, compression method 0, zlib data
        "zTXt" => [.. "Comment\0"u8, 0, .. InflatesTo128MB.Value],
        // keyword NUL, compressed flag 1, method 0, empty language tag NUL, empty translated keyword NUL, zlib data
        "iTXt" => [.. "Comment\0"u8, 1, 0, 0, 0, .. InflatesTo128MB.Value],
        // profile name NUL, compression method 0, zlib data
        _ => [.. "icc\0"u8, 0, .. InflatesTo128MB.Value],
    };

    [Theory]
    [MemberData(nameof(CompressedMetadataChunks))]
    public void A_metadata_chunk_that_inflates_to_128_MB_is_skipped_unread(string type)
    {
        using var image = GradientImage(64, 64);
        var clean = Encode(image, new ImageSharpPngEncoder());
        var hostile = PngChunks.InsertAfterHeader(clean, type, CompressedChunk(type));
        Assert.InRange(hostile.Length, 100_000, 200_000);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        var normalized = InitImageLoader.Normalize(hostile, 64, 64);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // Inflating the chunk alone would allocate its 128 MB at least (ImageSharp reads text into a string: twice that).
        Assert.True(allocated < 16 << 20, $"decoding allocated {allocated / (1 << 20)} MB");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"decoding took {elapsed}");
        Assert.Equal(InitImageLoader.Normalize(clean, 64, 64), normalized);
    }

    [Fact]
    public void Image_data_that_inflates_far_past_its_header_is_read_only_as_far_as_the_header_says()
    {
        // 64 x 64 RGB needs 64 x (1 + 192) bytes of scanlines; this IDAT inflates to 128 MB of zero rows.
        var bomb = PngChunks.Build(64, 64, 8, 2, InflatesTo128MB.Value);

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        var normalized = InitImageLoader.Normalize(bomb, 64, 64);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.True(allocated < 16 << 20, $"decoding allocated {allocated / (1 << 20)} MB");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"decoding took {elapsed}");
        Assert.All(normalized[NormalizedImage.HeaderLength..], sample => Assert.Equal(0, sample));
    }

    [Fact]
    public void Only_the_pixel_chunks_of_a_png_reach_the_decoder()
    {
        using var image = new Image<Rgba32>(4, 4, new Rgba32(255, 0, 0, 128));
        var png = Encode(image, new ImageSharpPngEncoder { ColorType = PngColorType.Palette });
        foreach (var (type, data) in new (string, byte[])[]
        {
            ("tEXt", [.. "parameters\0a lighthouse"u8]),
            ("zTXt", [.. "Comment\0"u8, 0, .. PngChunks.Zlib(new byte[100])]),
            ("eXIf", new byte[16]),
            ("gAMA", [0, 0, 177, 143]),
            ("prVt", new byte[8]),
        })
        {
            png = PngChunks.InsertAfterHeader(png, type, data);
        }

        var kept = PngChunks.Read(PngSanitizer.KeepPixelChunks(png, ImageLimits.Default)).Select(c => c.Type).Distinct().ToList();

        Assert.Equal(["IHDR", "PLTE", "tRNS", "IDAT", "IEND"], kept);
    }

    [Fact]
    public void A_palette_png_keeps_its_transparency()
    {
        using var image = new Image<Rgba32>(2, 1);
        image[0, 0] = new Rgba32(255, 0, 0, 255);
        image[1, 0] = new Rgba32(0, 0, 0, 0);
        var png = Encode(image, new ImageSharpPngEncoder { ColorType = PngColorType.Palette });
        Assert.Contains(PngChunks.Read(png), c => c.Type == "tRNS");

        var normalized = InitImageLoader.Normalize(png, 2, 1);

        Assert.Equal([255, 0, 0, 255, 255, 255], normalized[NormalizedImage.HeaderLength..]);
    }

    [Fact]
    public void A_png_with_an_unknown_critical_chunk_is_corrupt()
    {
        var png = PngChunks.InsertAfterHeader(SolidPng(4, 4, new Rgba32(1, 2, 3)), "CgBI", new byte[4]);

        Assert.Equal(InvalidImageReason.Corrupt, Rejected(png).Reason);
    }

    [Fact]
    public void A_normalised_image_is_rgb_of_exactly_the_target_size_and_is_all_a_worker_accepts()
    {
        using var image = GradientImage(200, 100);
        var png = Encode(image, new ImageSharpPngEncoder());

        var normalized = InitImageLoader.Normalize(png, 64, 32);

        Assert.Equal(NormalizedImage.LengthOf(64, 32), normalized.Length);
        Assert.Equal("ODPX"u8.ToArray(), normalized[..4]);
        Assert.Equal(InitImageLoader.LoadChw(png, 64, 32), NormalizedImage.ToChw(normalized, 64, 32));
        Assert.Equal(InvalidImageReason.Corrupt, Assert.Throws<InvalidImageException>(() => NormalizedImage.ToChw(png, 64, 32)).Reason);
        Assert.Equal(InvalidImageReason.Corrupt, Assert.Throws<InvalidImageException>(() => NormalizedImage.ToChw(normalized, 32, 64)).Reason);
    }

    [Fact]
    public void An_image_within_the_side_limit_but_over_the_pixel_budget_is_rejected()
    {
        var bomb = PngChunks.Build(8000, 8000, 8, 2, PngChunks.Zlib(new byte[64]));

        Assert.Equal(InvalidImageReason.TooLarge, Rejected(bomb).Reason);
    }

    [Fact]
    public void A_long_thin_image_over_the_side_limit_is_rejected()
    {
        var strip = PngChunks.Build(10_000, 1, 8, 2, PngChunks.Zlib(new byte[64]));

        Assert.Equal(InvalidImageReason.TooLarge, Rejected(strip).Reason);
    }

    [Fact]
    public void Garbage_bytes_are_an_unknown_format()
    {
        var garbage = new byte[512];
        new Random(7).NextBytes(garbage);

        Assert.Equal(InvalidImageReason.UnknownFormat, Rejected(garbage).Reason);
        Assert.Equal(InvalidImageReason.UnknownFormat, Rejected([]).Reason);
    }

    [Fact]
    public void A_truncated_png_is_corrupt()
    {
        using var image = GradientImage(64, 64);
        var png = Encode(image, new ImageSharpPngEncoder());

        Assert.Equal(InvalidImageReason.Corrupt, Rejected(png[..(png.Length / 2)]).Reason);
    }

    [Fact]
    public void Formats_outside_the_allow_list_are_refused()
    {
        using var image = new Image<Rgb24>(8, 8);
        using var stream = new MemoryStream();
        image.SaveAsTga(stream);

        Assert.Equal(InvalidImageReason.UnknownFormat, Rejected(stream.ToArray()).Reason);
    }

    [Theory]
    [InlineData("not base64 at all!")]
    [InlineData("data:image/png;base64,@@@@")]
    [InlineData("data:text/plain;base64,aGVsbG8=")]
    [InlineData("data:image/png,rawbytes")]
    [InlineData("")]
    public void Bad_base64_is_rejected(string text)
    {
        var error = Assert.Throws<InvalidImageException>(() => InitImageLoader.DecodeBase64(text));

        Assert.Equal(InvalidImageReason.InvalidEncoding, error.Reason);
    }

    [Fact]
    public void Data_urls_and_plain_base64_decode_to_the_same_bytes()
    {
        var png = SolidPng(4, 4, new Rgba32(9, 8, 7));
        var base64 = Convert.ToBase64String(png);

        Assert.Equal(png, InitImageLoader.DecodeBase64("data:image/png;base64," + base64));
        Assert.Equal(png, InitImageLoader.DecodeBase64(base64));
        Assert.Equal(png, InitImageLoader.DecodeBase64(base64.Insert(8, "\n")));
        Assert.Equal(64 * 3, InitImageLoader.LoadChw(InitImageLoader.DecodeBase64("data:image/png;base64," + base64), 8, 8).Length);
    }

    [Fact]
    public void Base64_that_would_decode_past_the_limit_is_rejected_before_decoding()
    {
        var error = Assert.Throws<InvalidImageException>(
            () => InitImageLoader.DecodeBase64(new string('A', 4000), new ImageLimits { MaxBytes = 1000 }));

        Assert.Equal(InvalidImageReason.TooLarge, error.Reason);
    }

    /// <summary>A request body: no length, no seeking.</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
    }
}
