using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Engine.Tests.Inpainting;

/// <summary>"Only masked": the mask's box, padded, grown to the generation's aspect ratio and kept inside the image.</summary>
public sealed class MaskRegionTests
{
    private static float[] Box(int width, int height, int x0, int y0, int x1, int y1)
    {
        var mask = new float[width * height];
        for (var y = y0; y < y1; y++)
        {
            for (var x = x0; x < x1; x++)
            {
                mask[(y * width) + x] = 0.2f;
            }
        }

        return mask;
    }

    [Fact]
    public void The_box_is_padded_and_grown_around_its_centre_to_the_aspect_ratio()
    {
        // A 10 x 4 box at (50, 30) in a square image grows to 10 x 10, 3 above and 3 below.
        Assert.Equal(new PixelRegion(50, 27, 10, 10), MaskRegion.Find(Box(100, 100, 50, 30, 60, 34), 100, 100, padding: 0));

        // Padding 5: 20 x 14, grown to 20 x 20.
        Assert.Equal(new PixelRegion(45, 22, 20, 20), MaskRegion.Find(Box(100, 100, 50, 30, 60, 34), 100, 100, padding: 5));

        // A 2:1 image takes a 2:1 box: 10 x 10 becomes 20 x 10.
        Assert.Equal(new PixelRegion(25, 40, 20, 10), MaskRegion.Find(Box(200, 100, 30, 40, 40, 50), 200, 100, padding: 0));
    }

    [Fact]
    public void A_box_at_the_edge_is_shifted_back_inside_the_image()
    {
        Assert.Equal(new PixelRegion(0, 90, 10, 10), MaskRegion.Find(Box(100, 100, 0, 96, 10, 100), 100, 100, padding: 0));
        Assert.Equal(new PixelRegion(0, 0, 100, 100), MaskRegion.Find(Box(100, 100, 0, 0, 100, 20), 100, 100, padding: 10));
    }

    [Fact]
    public void An_empty_mask_has_no_region()
    {
        Assert.Null(MaskRegion.Find(new float[64], 8, 8, padding: 4));
    }
}
