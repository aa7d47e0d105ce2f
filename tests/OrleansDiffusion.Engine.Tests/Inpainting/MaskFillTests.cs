using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Inpainting;

/// <summary>A1111's "fill": the hole takes the colours around it; what the mask keeps is untouched.</summary>
public sealed class MaskFillTests
{
    [Fact]
    public void The_hole_takes_the_colour_around_it_and_the_rest_stays()
    {
        var image = InpaintingPipelineTests.Solid(new Rgb24(200, 30, 30));
        const int Plane = 64 * 64;
        var mask = InpaintingPipelineTests.Square(16, 16, 48, 48);
        for (var p = 0; p < Plane; p++)
        {
            if (mask[p] > 0)
            {
                image[p] = -1f; // black in the hole
                image[Plane + p] = -1f;
                image[(2 * Plane) + p] = 1f; // blue
            }
        }

        var before = (float[])image.Clone();
        MaskFill.Apply(image, mask, 64, 64);

        for (var p = 0; p < Plane; p++)
        {
            if (mask[p] == 0)
            {
                Assert.Equal(before[p], image[p], 5);
                Assert.Equal(before[(2 * Plane) + p], image[(2 * Plane) + p], 5);
            }
            else
            {
                Assert.Equal((200 / 127.5f) - 1f, image[p], 1); // red all through
                Assert.True(image[(2 * Plane) + p] < -0.5f, "no blue left");
            }
        }
    }
}
