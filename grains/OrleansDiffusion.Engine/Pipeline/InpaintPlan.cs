using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp.Processing;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// The pixel side of one inpainting request, as AUTOMATIC1111 does it: which image is encoded (the init image, or with
/// "only masked" its masked box scaled to the full size), what the masked area starts from (<see cref="InpaintFill"/>),
/// the latent mask, and at the end the generated pixels laid over the init image so that what the mask keeps comes
/// back unchanged.
/// </summary>
internal sealed class InpaintPlan
{
    private const int LatentScale = 8;

    private readonly float[] _original;
    private readonly float[] _weights;
    private readonly PixelRegion? _region;
    private readonly int _width;
    private readonly int _height;

    private InpaintPlan(float[] original, float[] weights, PixelRegion? region, int width, int height, float[] image, float[] pixelMask, InpaintFill fill)
    {
        _original = original;
        _weights = weights;
        _region = region;
        _width = width;
        _height = height;
        Image = image;
        PixelMask = pixelMask;
        Fill = fill;
        LatentMask = LatentMaskOf(pixelMask, width, height);
    }

    /// <summary>The image the VAE encodes, <c>[3, height, width]</c>.</summary>
    public float[] Image { get; }

    /// <summary>The mask over <see cref="Image"/>, <c>[height, width]</c>, 1 repaints.</summary>
    public float[] PixelMask { get; }

    /// <summary>
    /// The mask at latent size, <c>[height / 8, width / 8]</c>: 1 where more than half of the 8 x 8 pixels under a latent
    /// repaint (A1111 scales the mask down and rounds it), 0 elsewhere.
    /// </summary>
    public float[] LatentMask { get; }

    public InpaintFill Fill { get; }

    public static InpaintPlan Create(GenerationRequest request)
    {
        var (width, height) = (request.Width, request.Height);
        var original = request.InitImage ?? throw new ArgumentException("Inpainting needs an init image.", nameof(request));
        var mask = request.Mask ?? throw new ArgumentException("Inpainting needs a mask.", nameof(request));
        var region = request.InpaintOnlyMasked ? MaskRegion.Find(mask, width, height, request.InpaintPadding) : null;
        float[] image, pixelMask, weights;
        if (region is { } box)
        {
            image = PlanarImage.CropResize(original, 3, width, height, box, width, height, KnownResamplers.Lanczos3, signed: true);
            pixelMask = PlanarImage.CropResize(mask, 1, width, height, box, width, height, KnownResamplers.Triangle, signed: false);

            // A1111 lays the rendered box back with the (blurred) mask itself as the weight.
            weights = mask;
        }
        else
        {
            image = (float[])original.Clone();
            pixelMask = mask;

            // A1111 doubles the blurred mask for the overlay, so that the repainted area reaches the middle of the blur.
            weights = [.. mask.Select(m => Math.Min(2f * m, 1f))];
        }

        if (request.InpaintFill == InpaintFill.Fill)
        {
            MaskFill.Apply(image, pixelMask, width, height);
        }

        return new InpaintPlan(original, weights, region, width, height, image, pixelMask, request.InpaintFill);
    }

    /// <summary>
    /// What an inpainting UNet sees of the image: <see cref="Image"/> with the repainted pixels (mask above one half,
    /// A1111's rounding) set to 0, mid-grey.
    /// </summary>
    public float[] MaskedImage()
    {
        var plane = _width * _height;
        var masked = (float[])Image.Clone();
        for (var p = 0; p < plane; p++)
        {
            if (PixelMask[p] > 0.5f)
            {
                masked[p] = masked[plane + p] = masked[(2 * plane) + p] = 0f;
            }
        }

        return masked;
    }

    /// <summary>
    /// The latent fills: unit noise (the run's own initial noise, as A1111 draws it from the same seed) or zeros where
    /// the latent mask repaints. The other fills leave <paramref name="latents"/> as they are.
    /// </summary>
    public void FillLatents(Span<float> latents, ReadOnlySpan<float> noise)
    {
        if (Fill is not (InpaintFill.LatentNoise or InpaintFill.LatentNothing))
        {
            return;
        }

        var plane = LatentMask.Length;
        for (var i = 0; i < latents.Length; i++)
        {
            var m = LatentMask[i % plane];
            latents[i] = ((1f - m) * latents[i]) + (m * (Fill == InpaintFill.LatentNoise ? noise[i] : 0f));
        }
    }

    /// <summary>
    /// The final pixels: <paramref name="generated"/> (<c>[3, height, width]</c>, of <see cref="Image"/>), scaled back
    /// into its box with "only masked", laid over the init image with the mask as the weight.
    /// </summary>
    public float[] Composite(float[] generated)
    {
        var plane = _width * _height;
        var result = (float[])_original.Clone();
        if (_region is { } box)
        {
            var placed = PlanarImage.CropResize(generated, 3, _width, _height, new PixelRegion(0, 0, _width, _height), box.Width, box.Height, KnownResamplers.Lanczos3, signed: true);
            var boxPlane = box.Width * box.Height;
            for (var y = 0; y < box.Height; y++)
            {
                for (var x = 0; x < box.Width; x++)
                {
                    var p = ((box.Y + y) * _width) + box.X + x;
                    Blend(result, p, plane, placed, (y * box.Width) + x, boxPlane, _weights[p]);
                }
            }
        }
        else
        {
            for (var p = 0; p < plane; p++)
            {
                Blend(result, p, plane, generated, p, plane, _weights[p]);
            }
        }

        return result;
    }

    private static void Blend(float[] target, int p, int plane, float[] source, int q, int sourcePlane, float weight)
    {
        if (weight <= 0f)
        {
            return;
        }

        for (var c = 0; c < 3; c++)
        {
            target[(c * plane) + p] = (weight * source[(c * sourcePlane) + q]) + ((1f - weight) * target[(c * plane) + p]);
        }
    }

    private static float[] LatentMaskOf(float[] mask, int width, int height)
    {
        var (w, h) = (width / LatentScale, height / LatentScale);
        var latent = new float[w * h];
        for (var ly = 0; ly < h; ly++)
        {
            for (var lx = 0; lx < w; lx++)
            {
                var sum = 0f;
                for (var y = ly * LatentScale; y < (ly + 1) * LatentScale; y++)
                {
                    for (var x = lx * LatentScale; x < (lx + 1) * LatentScale; x++)
                    {
                        sum += mask[(y * width) + x];
                    }
                }

                latent[(ly * w) + lx] = sum / (LatentScale * LatentScale) > 0.5f ? 1f : 0f;
            }
        }

        return latent;
    }
}
