using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class LatentPreviewTests
{
    private const int LatentWidth = 8;
    private const int LatentHeight = 6;
    private const int Plane = LatentWidth * LatentHeight;

    private static Image<Rgb24> Load(byte[] bytes) => Image.Load<Rgb24>(bytes);

    private static byte Expected(float x) => (byte)Math.Round((Math.Clamp(x, -1f, 1f) + 1) / 2 * 255, MidpointRounding.AwayFromZero);

    [Fact]
    public void Preview_has_latent_resolution()
    {
        using var image = Load(LatentPreview.Render(new float[4 * Plane], LatentWidth, LatentHeight, PreviewFormat.Png));

        Assert.Equal((LatentWidth, LatentHeight), (image.Width, image.Height));
    }

    [Fact]
    public void Scale_two_upscales_by_nearest_neighbour()
    {
        var latents = new float[4 * Plane];
        latents[0] = 3f; // Top-left latent pixel only.

        using var image = Load(LatentPreview.Render(latents, LatentWidth, LatentHeight, PreviewFormat.Png, scale: 2));

        Assert.Equal((2 * LatentWidth, 2 * LatentHeight), (image.Width, image.Height));
        Assert.Equal(image[0, 0], image[1, 1]);
        Assert.Equal(image[0, 0], image[1, 0]);
        Assert.NotEqual(image[0, 0], image[2, 0]);
    }

    [Fact]
    public void Zero_latents_give_mid_grey()
    {
        using var image = Load(LatentPreview.Render(new float[4 * Plane], LatentWidth, LatentHeight, PreviewFormat.Png));

        for (var y = 0; y < LatentHeight; y++)
        {
            for (var x = 0; x < LatentWidth; x++)
            {
                Assert.Equal(new Rgb24(128, 128, 128), image[x, y]);
            }
        }
    }

    [Fact]
    public void Positive_first_channel_gives_the_reddish_colour_of_the_A1111_matrix()
    {
        var latents = new float[4 * Plane];
        latents.AsSpan(0, Plane).Fill(2f);

        using var image = Load(LatentPreview.Render(latents, LatentWidth, LatentHeight, PreviewFormat.Png));

        var expected = new Rgb24(Expected(2 * 0.298f), Expected(2 * 0.207f), Expected(2 * 0.208f));
        Assert.Equal(expected, image[3, 2]);
        Assert.True(expected.R > expected.G && expected.R > expected.B);
    }

    [Fact]
    public void Each_channel_contributes_its_row_of_the_matrix()
    {
        float[][] rows = [[0.298f, 0.207f, 0.208f], [0.187f, 0.286f, 0.173f], [-0.158f, 0.189f, 0.264f], [-0.184f, -0.271f, -0.473f]];
        for (var channel = 0; channel < 4; channel++)
        {
            var latents = new float[4 * Plane];
            latents.AsSpan(channel * Plane, Plane).Fill(1.5f);

            using var image = Load(LatentPreview.Render(latents, LatentWidth, LatentHeight, PreviewFormat.Png));

            var row = rows[channel];
            Assert.Equal(new Rgb24(Expected(1.5f * row[0]), Expected(1.5f * row[1]), Expected(1.5f * row[2])), image[0, 0]);
        }
    }

    [Fact]
    public void Jpeg_preview_is_a_jpeg_of_the_latent_size()
    {
        var bytes = LatentPreview.Render(new float[4 * Plane], LatentWidth, LatentHeight);

        Assert.Equal(new byte[] { 0xFF, 0xD8 }, bytes[..2]);
        using var image = Load(bytes);
        Assert.Equal((LatentWidth, LatentHeight), (image.Width, image.Height));
    }

    [Fact]
    public void A_renderer_reuses_its_buffers_across_renders()
    {
        using var renderer = new LatentPreviewRenderer(LatentWidth, LatentHeight, PreviewFormat.Png);
        var bright = Enumerable.Repeat(2f, 4 * Plane).ToArray();
        var dark = new float[4 * Plane];

        var first = renderer.Render(dark);
        var second = renderer.Render(bright);
        var third = renderer.Render(dark);

        Assert.NotEqual(first, second);
        Assert.Equal(first, third);
    }

    [Fact]
    public void Data_url_carries_the_media_type_and_base64_bytes()
    {
        var bytes = LatentPreview.Render(new float[4 * Plane], LatentWidth, LatentHeight, PreviewFormat.Png);

        var url = LatentPreview.ToDataUrl(bytes, PreviewFormat.Png);

        Assert.StartsWith("data:image/png;base64,", url, StringComparison.Ordinal);
        Assert.Equal(bytes, InitImageLoader.DecodeBase64(url));
        Assert.StartsWith("data:image/jpeg;base64,", LatentPreview.ToDataUrl(bytes, PreviewFormat.Jpeg), StringComparison.Ordinal);
    }

    [Fact]
    public void Latents_of_the_wrong_length_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => LatentPreview.Render(new float[3 * Plane], LatentWidth, LatentHeight));
    }
}
