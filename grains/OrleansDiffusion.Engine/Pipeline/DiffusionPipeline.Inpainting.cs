using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>Inpainting: a 9-channel UNet's conditioning, and masked img2img's start with either kind of UNet.</summary>
public sealed partial class DiffusionPipeline
{
    /// <summary>An inpainting UNet encodes its masked image with the VAE, txt2img included.</summary>
    private void RequireInpaintingEncoder()
    {
        if (model.UNetSig.Kind.Inpainting && model.VaeEncoder is null)
        {
            throw new ArgumentException($"An inpainting UNet needs a vae_encoder/ folder for its masked image, which {model.Folder.Root} does not have.");
        }
    }

    /// <summary>
    /// Gives an inpainting UNet its mask and masked-image latents for every image of every group: the plan's, or without
    /// a mask (txt2img, plain img2img) the whole image to repaint over a mid-grey image, as AUTOMATIC1111 conditions these
    /// models. The masked image is encoded once for all groups. Nothing for a plain UNet. Returns the time the VAE
    /// encoder took.
    /// </summary>
    private TimeSpan ConditionInpaintingUNet(List<ImageGroup> groups, InpaintPlan? plan, int width, int height, RunOptions runOptions)
    {
        if (!model.UNetSig.Kind.Inpainting)
        {
            return TimeSpan.Zero;
        }

        var started = Stopwatch.GetTimestamp();
        var latentMask = plan?.LatentMask ?? [.. Enumerable.Repeat(1f, width / 8 * (height / 8))];
        var maskedImage = plan?.MaskedImage() ?? new float[3 * width * height];
        var maskedLatents = EncodeImage(maskedImage, width, height, groups[0].Loop.LatentLength, runOptions);
        foreach (var (loop, members) in groups)
        {
            for (var i = 0; i < members.Length; i++)
            {
                loop.SetInpaintingConditioning(i, latentMask, maskedLatents);
            }
        }

        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>
    /// Each image's start: its own noise over the init latents (with the plan's latent fill), or at full strength the
    /// noise alone, as diffusers' inpainting pipelines start; a plain UNet then keeps the init latents outside the mask
    /// at every step.
    /// </summary>
    private void StartInpainting(DenoisingLoop loop, int images, InpaintPlan plan, float[] initLatents, int beginIndex, float strength)
    {
        for (var i = 0; i < images; i++)
        {
            var noise = new float[loop.LatentLength];
            loop.GeneratorFor(i).FillNormal(noise);
            var original = (float[])initLatents.Clone();
            plan.FillLatents(original, noise);
            var latents = loop.Latents.Slice(i * loop.LatentLength, loop.LatentLength);
            var scheduler = loop.SchedulerFor(i);
            if (strength >= 1f)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(noise, scheduler.InitNoiseSigma, latents);
            }
            else
            {
                scheduler.AddNoise(original, noise, beginIndex, latents);
            }

            if (!model.UNetSig.Kind.Inpainting)
            {
                loop.KeepOutsideMask(i, original, noise, plan.LatentMask);
            }
        }
    }
}
