using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.Inpainting;

/// <summary>Init images and masks for the inpainting tests, and the pixels of the PNGs that come back.</summary>
internal static class MaskImages
{
    public const int Side = 64;

    /// <summary>A square of the image: [16, 48) on both axes.</summary>
    public static bool InSquare(int x, int y) => x is >= 16 and < 48 && y is >= 16 and < 48;

    /// <summary>A picture with structure (a colour ramp), so that "unchanged" means every pixel.</summary>
    public static byte[] Picture(int width = Side, int height = Side) =>
        Png<Rgb24>(width, height, (x, y) => new Rgb24((byte)(40 + (2 * x)), (byte)(200 - (2 * y)), (byte)(60 + x + y)));

    /// <summary>White where <paramref name="repaint"/> holds, black elsewhere (AUTOMATIC1111's and the native API's masks).</summary>
    public static byte[] WhiteMask(Func<int, int, bool> repaint, int width = Side, int height = Side) =>
        Png<Rgb24>(width, height, (x, y) => repaint(x, y) ? new Rgb24(255, 255, 255) : new Rgb24(0, 0, 0));

    /// <summary>Transparent where <paramref name="edit"/> holds, opaque elsewhere (OpenAI's masks).</summary>
    public static byte[] TransparentMask(Func<int, int, bool> edit, int width = Side, int height = Side) =>
        Png<Rgba32>(width, height, (x, y) => edit(x, y) ? new Rgba32(0, 0, 0, 0) : new Rgba32(0, 0, 0, 255));

    /// <summary>The picture with a transparent hole where <paramref name="edit"/> holds (dall-e-2's maskless edit).</summary>
    public static byte[] PictureWithHole(Func<int, int, bool> edit) =>
        Png<Rgba32>(Side, Side, (x, y) => edit(x, y) ? new Rgba32(0, 0, 0, 0) : new Rgba32((byte)(40 + (2 * x)), (byte)(200 - (2 * y)), (byte)(60 + x + y), 255));

    public static string DataUrl(byte[] png) => "data:image/png;base64," + Convert.ToBase64String(png);

    public static Rgb24[] Pixels(byte[] png)
    {
        using var image = Image.Load<Rgb24>(png);
        var pixels = new Rgb24[image.Width * image.Height];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }

    /// <summary>The pixels of <paramref name="result"/> that differ from <paramref name="source"/>, as (x, y).</summary>
    public static List<(int X, int Y)> Changed(byte[] source, byte[] result)
    {
        var before = Pixels(source);
        var after = Pixels(result);
        Assert.Equal(before.Length, after.Length);
        return [.. Enumerable.Range(0, after.Length).Where(p => before[p] != after[p]).Select(p => (p % Side, p / Side))];
    }

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
}
