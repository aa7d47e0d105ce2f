using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

internal static class PngPixels
{
    public static Rgb24[] Decode(byte[] png, out int width, out int height)
    {
        using var image = Image.Load<Rgb24>(png);
        width = image.Width;
        height = image.Height;
        var pixels = new Rgb24[image.Width * image.Height];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }

    /// <summary>Mean absolute difference per channel, 0..255.</summary>
    public static double MeanDifference(byte[] a, byte[] b)
    {
        var x = Decode(a, out _, out _);
        var y = Decode(b, out _, out _);
        Assert.Equal(x.Length, y.Length);
        double sum = 0;
        for (var i = 0; i < x.Length; i++)
        {
            sum += Math.Abs(x[i].R - y[i].R) + Math.Abs(x[i].G - y[i].G) + Math.Abs(x[i].B - y[i].B);
        }

        return sum / (3.0 * x.Length);
    }

    /// <summary>Standard deviation of the luma: 0 for a flat image.</summary>
    public static double LumaSpread(byte[] png)
    {
        var pixels = Decode(png, out _, out _);
        var luma = pixels.Select(p => 0.299 * p.R + 0.587 * p.G + 0.114 * p.B).ToArray();
        var mean = luma.Average();
        return Math.Sqrt(luma.Select(l => (l - mean) * (l - mean)).Average());
    }
}
