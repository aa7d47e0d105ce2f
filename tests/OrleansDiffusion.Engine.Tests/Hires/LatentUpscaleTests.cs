using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Tests.Hires;

/// <summary>
/// The latent upscaler against numbers worked out by hand from PyTorch's <c>interpolate</c> rules (align_corners=False,
/// source index from the size ratio, Keys' cubic with a = -0.75).
/// </summary>
public sealed class LatentUpscaleTests
{
    [Fact]
    public void Bilinear_doubles_a_2x2_plane_as_torch_interpolate_does()
    {
        // Destination d samples source 0.5 d - 0.25, clamped at 0: weights 0, 0.25, 0.75 and (clamped) 1 along each axis.
        float[] expected =
        [
            0f, 0.25f, 0.75f, 1f,
            0.5f, 0.75f, 1.25f, 1.5f,
            1.5f, 1.75f, 2.25f, 2.5f,
            2f, 2.25f, 2.75f, 3f,
        ];

        var output = Resize([0f, 1f, 2f, 3f], 1, 2, 2, 4, 4, LatentUpscaleMode.Bilinear);

        Assert.Equal(expected, output);
    }

    [Fact]
    public void Each_channel_is_resized_on_its_own()
    {
        var output = Resize([0f, 1f, 2f, 3f, 10f, 10f, 10f, 10f], 2, 2, 2, 4, 4, LatentUpscaleMode.Bilinear);

        Assert.Equal(1.25f, output[6]);
        Assert.All(output[16..], v => Assert.Equal(10f, v));
    }

    [Fact]
    public void Nearest_floors_the_scaled_index_and_nearest_exact_the_scaled_centre()
    {
        // 2 -> 3: scale 2/3. nearest: floor(0, 0.67, 1.33) = 0, 0, 1; nearest-exact: floor(0.33, 1, 1.67) = 0, 1, 1.
        Assert.Equal([10f, 10f, 20f], Resize([10f, 20f], 1, 1, 2, 1, 3, LatentUpscaleMode.Nearest));
        Assert.Equal([10f, 20f, 20f], Resize([10f, 20f], 1, 1, 2, 1, 3, LatentUpscaleMode.NearestExact));
    }

    [Fact]
    public void Bicubic_overshoots_at_the_edges_as_keys_cubic_does()
    {
        // [0, 1] -> 4. d = 0: position -0.25, t = 0.75, neighbours (clamped) 0, 0, 0, 1: the far weight of 1.25,
        // ((-0.75 x 1.25 + 3.75) x 1.25 - 6) x 1.25 + 3 = -0.10546875. d = 1: t = 0.25, neighbours 0, 0, 1, 1:
        // near(0.75) + far(1.75) = 0.26171875 - 0.03515625 = 0.2265625. The other two mirror these.
        var output = Resize([0f, 1f], 1, 1, 2, 1, 4, LatentUpscaleMode.Bicubic);

        Assert.Equal([-0.10546875f, 0.2265625f, 0.7734375f, 1.10546875f], output, (a, b) => Math.Abs(a - b) < 1e-6f);
    }

    [Fact]
    public void Resizing_to_the_same_size_keeps_every_value()
    {
        float[] source = [1f, -2f, 3.5f, 0.25f, 7f, -1f];
        foreach (var mode in Enum.GetValues<LatentUpscaleMode>())
        {
            Assert.Equal(source, Resize(source, 1, 2, 3, 2, 3, mode));
        }
    }

    private static float[] Resize(float[] source, int channels, int height, int width, int toHeight, int toWidth, LatentUpscaleMode mode)
    {
        var output = new float[channels * toHeight * toWidth];
        LatentUpscale.Resize(source, channels, height, width, output, toHeight, toWidth, mode);
        return output;
    }
}
