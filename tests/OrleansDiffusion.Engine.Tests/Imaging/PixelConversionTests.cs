using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using PngEncoder = OrleansDiffusion.Engine.Imaging.PngEncoder;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class PixelConversionTests
{
    [Fact]
    public void Vectorised_bytes_equal_the_scalar_mapping_for_every_kind_of_value()
    {
        // Every rounding tie of the 8-bit grid, its float neighbours, the clamps, infinities, NaN, and an odd length
        // so that the scalar tail runs too.
        var values = new List<float> { float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 1f, -1f, 1.5f, -7f, float.MaxValue, float.MinValue, float.Epsilon };
        for (var k = 0; k <= 255; k++)
        {
            var tie = ((k + 0.5f) / 127.5f) - 1f;
            values.AddRange([tie, MathF.BitDecrement(tie), MathF.BitIncrement(tie), (k / 127.5f) - 1f]);
        }

        var random = new Random(3);
        values.AddRange(Enumerable.Range(0, 1001).Select(_ => (float)((random.NextDouble() * 2.4) - 1.2)));
        var source = values.ToArray();
        var vectorised = new byte[source.Length];
        PixelMath.ToBytes(source, vectorised);
        for (var i = 0; i < source.Length; i++)
        {
            Assert.True(PixelMath.ToByte(source[i]) == vectorised[i], $"{source[i]:R}: expected {PixelMath.ToByte(source[i])}, got {vectorised[i]}");
        }
    }

    [Fact]
    public void Planar_to_interleaved_places_each_channel()
    {
        // Larger than one stack chunk, and not a multiple of it.
        const int Pixels = 2500;
        var chw = new float[3 * Pixels];
        var random = new Random(5);
        for (var i = 0; i < chw.Length; i++)
        {
            chw[i] = (float)((random.NextDouble() * 2) - 1);
        }

        var rgb = new byte[3 * Pixels];
        Assert.True(PixelMath.PlanarToInterleaved(chw, rgb, Pixels));
        for (var p = 0; p < Pixels; p++)
        {
            for (var c = 0; c < 3; c++)
            {
                Assert.Equal(PixelMath.ToByte(chw[(c * Pixels) + p]), rgb[(3 * p) + c]);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(2500)]
    public void Float16_planes_give_the_bytes_of_their_float32_values(int pixels)
    {
        var random = new Random(pixels);
        var halves = new Half[3 * pixels];
        for (var i = 0; i < halves.Length; i++)
        {
            halves[i] = (Half)((random.NextDouble() * 2.2) - 1.1);
        }

        var rgb = new byte[3 * pixels];
        Assert.True(PixelMath.PlanarToInterleaved(halves, rgb, pixels));
        for (var p = 0; p < pixels; p++)
        {
            for (var c = 0; c < 3; c++)
            {
                Assert.Equal(PixelMath.ToByte((float)halves[(c * pixels) + p]), rgb[(3 * p) + c]);
            }
        }
    }

    [Theory]
    [InlineData(float.NaN, 0)]
    [InlineData(float.PositiveInfinity, 1024 + 3)]
    [InlineData(float.NegativeInfinity, (3 * 2500) - 1)]
    public void A_non_finite_value_anywhere_is_reported_and_still_written(float bad, int at)
    {
        const int Pixels = 2500;
        var chw = new float[3 * Pixels];
        chw[at] = bad;
        var halves = chw.Select(v => (Half)v).ToArray();
        var rgb = new byte[3 * Pixels];

        Assert.False(PixelMath.PlanarToInterleaved(chw, rgb, Pixels));
        Assert.Equal(PixelMath.ToByte(bad), rgb[(3 * (at % Pixels)) + (at / Pixels)]);
        Assert.False(PixelMath.PlanarToInterleaved(halves, rgb, Pixels));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(64, 64)]
    [InlineData(512, 512)]
    [InlineData(1000, 3)]
    public void Incompressible_pixels_fit_the_rented_buffer_and_decode_back(int width, int height)
    {
        // Noise does not deflate: the worst case for the buffer bound (the fallback would hide a wrong bound, so the
        // encoded length is checked against it too).
        var rgb = new byte[3 * width * height];
        new Random(width + height).NextBytes(rgb);
        var infotext = "noise, \u00e9\u00e8 \u4e2d\u6587 " + new string('x', 3000);

        var png = PngEncoder.EncodeInterleaved(rgb, width, height, infotext);

        Assert.True(png.Length <= PngEncoder.MaxLength(width, height, infotext), $"{png.Length} bytes exceed the bound {PngEncoder.MaxLength(width, height, infotext)}");
        using var image = Image.Load<Rgb24>(png);
        var decoded = new byte[rgb.Length];
        image.CopyPixelDataTo(decoded);
        Assert.Equal(rgb, decoded);
        Assert.Equal(infotext, PngEncoder.ReadParameters(png));
    }
}
