using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>The hires fix: the second pass over the first pass's enlarged latents.</summary>
public sealed partial class DiffusionPipeline
{
    /// <summary>
    /// Starts the second pass of every group: a UNet batch at the hires size with the same prompts, whose latents are
    /// each image's first-pass latents enlarged, cropped to the plan's window and noised to the schedule's
    /// <paramref name="beginIndex"/>. The noise is drawn afresh from the image's seed at the new size, as AUTOMATIC1111
    /// draws it. The new groups are added to <paramref name="hiresGroups"/> as they are made, so the caller disposes them.
    /// </summary>
    private void StartHiresPass(
        IReadOnlyList<GenerationRequest> requests,
        Conditioning conditioning,
        List<ImageGroup> groups,
        List<ImageGroup> hiresGroups,
        HiresFix hires,
        HiresPlan plan,
        Func<IScheduler> createScheduler,
        int scheduleSteps,
        int beginIndex,
        int latentHeight,
        int latentWidth,
        RunOptions runOptions)
    {
        var channels = model.UNetSig.LatentChannels;
        var upscaled = new float[channels * plan.UpscaleLatentHeight * plan.UpscaleLatentWidth];
        float[]? init = null;
        float[]? noise = null;
        foreach (var (loop, members) in groups)
        {
            var hiresLoop = CreateGroup(requests, conditioning, members, createScheduler, scheduleSteps, plan.Height / 8, plan.Width / 8, runOptions, hires: true);
            hiresGroups.Add(new ImageGroup(hiresLoop, members));
            init ??= new float[hiresLoop.LatentLength];
            noise ??= new float[hiresLoop.LatentLength];
            for (var i = 0; i < members.Length; i++)
            {
                LatentUpscale.Resize(loop.Latents.Slice(i * loop.LatentLength, loop.LatentLength), channels, latentHeight, latentWidth, upscaled, plan.UpscaleLatentHeight, plan.UpscaleLatentWidth, hires.Upscaler);
                Crop(upscaled, channels, plan, init);
                hiresLoop.GeneratorFor(i).FillNormal(noise);
                hiresLoop.SchedulerFor(i).AddNoise(init, noise, beginIndex, hiresLoop.Latents.Slice(i * hiresLoop.LatentLength, hiresLoop.LatentLength));
            }
        }
    }

    /// <summary>The plan's window of the enlarged latents, every channel.</summary>
    private static void Crop(ReadOnlySpan<float> upscaled, int channels, HiresPlan plan, Span<float> window)
    {
        var width = plan.Width / 8;
        var height = plan.Height / 8;
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < height; y++)
            {
                upscaled.Slice((((c * plan.UpscaleLatentHeight) + plan.CropTop + y) * plan.UpscaleLatentWidth) + plan.CropLeft, width)
                    .CopyTo(window.Slice(((c * height) + y) * width, width));
            }
        }
    }
}
