using System.Text;
using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;
using PngEncoder = OrleansDiffusion.Engine.Imaging.PngEncoder;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class PngEncoderTests
{
    private const int Width = 7;
    private const int Height = 5;

    private static readonly string Infotext = new GenerationParameters
    {
        Prompt = "a lighthouse at dusk, " + string.Join(", ", Enumerable.Repeat("highly detailed", 80)),
        NegativePrompt = "blurry",
        Steps = 20,
        SamplerName = "Euler a",
        GuidanceScale = 7.5f,
        Seed = 42,
        Width = Width,
        Height = Height,
    }.ToInfotext();

    /// <summary>A planar image whose every value is exactly representable as a byte, with the bytes expected.</summary>
    private static (float[] Chw, byte[] Rgb) Gradient()
    {
        var plane = Width * Height;
        var chw = new float[3 * plane];
        var rgb = new byte[3 * plane];
        for (var c = 0; c < 3; c++)
        {
            for (var i = 0; i < plane; i++)
            {
                var value = (byte)((i * 37 + c * 91) % 256);
                chw[c * plane + i] = value / 127.5f - 1f;
                rgb[3 * i + c] = value;
            }
        }

        return (chw, rgb);
    }

    private static byte[] Pixels(byte[] png)
    {
        using var image = Image.Load<Rgb24>(png);
        var bytes = new byte[3 * image.Width * image.Height];
        image.CopyPixelDataTo(bytes);
        return bytes;
    }

    [Fact]
    public void Png_decodes_back_to_the_same_pixels()
    {
        var (chw, rgb) = Gradient();

        var png = PngEncoder.Encode(chw, Width, Height, Infotext);

        using var image = Image.Load<Rgb24>(png);
        Assert.Equal((Width, Height), (image.Width, image.Height));
        Assert.Equal(rgb, Pixels(png));
    }

    [Fact]
    public void Parameters_are_an_uncompressed_tEXt_chunk_with_the_exact_infotext()
    {
        Assert.True(Infotext.Length > 1024, "The infotext must be long enough that a default encoder would compress it.");

        var png = PngEncoder.Encode(Gradient().Chw, Width, Height, Infotext);

        var textChunks = PngChunks.Read(png).Where(chunk => chunk.Type is "tEXt" or "zTXt" or "iTXt").ToList();
        var (type, data) = Assert.Single(textChunks);
        Assert.Equal("tEXt", type);
        Assert.Equal("parameters\0" + Infotext, Encoding.Latin1.GetString(data));
        Assert.Equal(Infotext, PngEncoder.ReadParameters(png));
    }

    [Fact]
    public void ImageSharp_reads_the_parameters_back()
    {
        var png = PngEncoder.Encode(Gradient().Chw, Width, Height, Infotext);

        using var image = Image.Load<Rgb24>(png);
        var text = Assert.Single(image.Metadata.GetPngMetadata().TextData);
        Assert.Equal((PngEncoder.ParametersKeyword, Infotext), (text.Keyword, text.Value));
    }

    [Fact]
    public void Non_latin_infotext_is_written_as_iTXt_and_read_back()
    {
        const string infotext = "一只猫, 富士山\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 7x5";

        var png = PngEncoder.Encode(Gradient().Chw, Width, Height, infotext);

        Assert.Contains(PngChunks.Read(png), chunk => chunk.Type == "iTXt");
        Assert.Equal(infotext, PngEncoder.ReadParameters(png));
    }

    [Fact]
    public void Values_outside_the_range_are_clamped_and_NaN_is_mid_grey()
    {
        float[] red = [-5f, 5f, float.NaN, 0f, -1f, 1f, float.NegativeInfinity, float.PositiveInfinity, 0.5f];
        var chw = red.Concat(new float[18]).ToArray();

        var pixels = Pixels(PngEncoder.Encode(chw, 9, 1, null));

        Assert.Equal(
            new byte[] { 0, 255, 128, 128, 0, 255, 0, 255, 191 },
            Enumerable.Range(0, 9).Select(i => pixels[3 * i]).ToArray());
    }

    [Fact]
    public void Same_input_gives_identical_bytes()
    {
        var (chw, _) = Gradient();

        var first = PngEncoder.Encode(chw, Width, Height, Infotext);
        using var stream = new MemoryStream();
        PngEncoder.Encode(chw, Width, Height, Infotext, stream);

        Assert.Equal(first, PngEncoder.Encode(chw, Width, Height, Infotext));
        Assert.Equal(first, stream.ToArray());
    }

    [Fact]
    public void Without_parameters_there_is_no_text_chunk()
    {
        var png = PngEncoder.Encode(Gradient().Chw, Width, Height, null);

        Assert.DoesNotContain(PngChunks.Read(png), chunk => chunk.Type is "tEXt" or "zTXt" or "iTXt");
        Assert.Null(PngEncoder.ReadParameters(png));
    }

    [Fact]
    public void ReadParameters_reads_compressed_zTXt_and_iTXt_chunks()
    {
        var text = Encoding.Latin1.GetBytes("a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 1x1");
        byte[] idat = PngChunks.Zlib([0, 0, 0, 0]);
        byte[] zTxt = [.. "parameters"u8, 0, 0, .. PngChunks.Zlib(text)];
        byte[] iTxt = [.. "parameters"u8, 0, 1, 0, .. "en"u8, 0, 0, .. PngChunks.Zlib(text)];
        byte[] otherKeyword = [.. "Comment"u8, 0, .. "not it"u8];

        var withZtxt = PngChunks.Build(1, 1, 8, 2, idat, ("tEXt", otherKeyword), ("zTXt", zTxt));
        var withItxt = PngChunks.Build(1, 1, 8, 2, idat, ("iTXt", iTxt));

        Assert.Equal(Encoding.Latin1.GetString(text), PngEncoder.ReadParameters(withZtxt));
        Assert.Equal(Encoding.Latin1.GetString(text), PngEncoder.ReadParameters(withItxt));
    }

    [Fact]
    public void ReadParameters_rejects_data_that_is_not_a_png()
    {
        var error = Assert.Throws<InvalidImageException>(() => PngEncoder.ReadParameters("GIF89a..."u8.ToArray()));
        Assert.Equal(InvalidImageReason.UnknownFormat, error.Reason);
    }

    [Fact]
    public void A_buffer_of_the_wrong_length_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => PngEncoder.Encode(new float[10], Width, Height, null));
    }
}
