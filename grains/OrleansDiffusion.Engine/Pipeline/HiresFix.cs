using System.Globalization;
using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// AUTOMATIC1111's hires fix with a latent upscaler: the txt2img result's latents are enlarged
/// (<see cref="LatentUpscale"/>), cropped to the asked aspect, noised, and denoised again by a second img2img pass at the
/// larger size, which is then decoded. Sizes and steps follow A1111's <c>StableDiffusionProcessingTxt2Img</c>.
/// </summary>
public sealed record HiresFix
{
    /// <summary>The largest <see cref="Scale"/>: A1111's slider ends at 4.</summary>
    public const float MaxScale = 4f;

    /// <summary>
    /// The longest stretched schedule (<see cref="Schedule"/>): a model's training timesteps (1000 for every SD family),
    /// so that a tiny strength cannot make a request build a huge schedule.
    /// </summary>
    public const int MaxScheduleSteps = 1000;

    /// <summary>Enlargement of the first pass's size (A1111's <c>hr_scale</c>); used when neither resize side is set. Default: 2.</summary>
    public float Scale { get; init; } = 2f;

    /// <summary>Target width in pixels instead of <see cref="Scale"/> (A1111's <c>hr_resize_x</c>); 0 follows the height's ratio. Default: 0.</summary>
    public int ResizeWidth { get; init; }

    /// <summary>Target height in pixels (A1111's <c>hr_resize_y</c>); 0 follows the width's ratio. Default: 0.</summary>
    public int ResizeHeight { get; init; }

    /// <summary>Steps the second pass runs (A1111's <c>hr_second_pass_steps</c>); 0 runs as many as the first pass. Default: 0.</summary>
    public int Steps { get; init; }

    /// <summary>How much of the schedule the second pass runs over the upscaled latents (A1111's <c>denoising_strength</c>). Default: 0.75.</summary>
    public float Strength { get; init; } = 0.75f;

    /// <summary>How the latents are enlarged. Default: <see cref="LatentUpscaleMode.Bilinear"/> (A1111's "Latent").</summary>
    public LatentUpscaleMode Upscaler { get; init; } = LatentUpscaleMode.Bilinear;

    private bool Resizes => ResizeWidth != 0 || ResizeHeight != 0;

    /// <summary>The UNet evaluations of the second pass: <see cref="Steps"/>, or the first pass's when 0.</summary>
    public int StepsAfter(int firstPassSteps) => Steps == 0 ? firstPassSteps : Steps;

    /// <summary>
    /// The second pass's schedule as A1111's samplers set up a hires pass: <c>steps / min(strength, 0.999)</c> steps, of
    /// which the last <see cref="StepsAfter"/> run, so that exactly that many run whatever the strength.
    /// </summary>
    public (int ScheduleSteps, int BeginIndex) Schedule(int firstPassSteps)
    {
        var run = StepsAfter(firstPassSteps);
        var schedule = Math.Max(run, (int)(run / Math.Min(Strength, 0.999f)));
        return (schedule, schedule - run);
    }

    /// <summary>
    /// The sizes for a first pass of <paramref name="width"/> x <paramref name="height"/>, as A1111's
    /// <c>calculate_target_resolution</c> computes them: scaled and truncated to whole pixels; or resized to one side
    /// with the other in proportion; or, both sides given, enlarged to cover them and the excess latent rows and columns
    /// cropped evenly (A1111's <c>truncate_x/y</c>). Each side is then a whole number of latent pixels (a multiple of 8).
    /// </summary>
    public HiresPlan Plan(int width, int height)
    {
        int upscaleWidth, upscaleHeight, truncateX = 0, truncateY = 0;
        if (!Resizes)
        {
            upscaleWidth = (int)(width * Scale);
            upscaleHeight = (int)(height * Scale);
        }
        else if (ResizeHeight == 0)
        {
            upscaleWidth = ResizeWidth;
            upscaleHeight = ResizeWidth * height / width;
        }
        else if (ResizeWidth == 0)
        {
            upscaleWidth = ResizeHeight * width / height;
            upscaleHeight = ResizeHeight;
        }
        else
        {
            if ((double)width / height < (double)ResizeWidth / ResizeHeight)
            {
                upscaleWidth = ResizeWidth;
                upscaleHeight = ResizeWidth * height / width;
            }
            else
            {
                upscaleWidth = ResizeHeight * width / height;
                upscaleHeight = ResizeHeight;
            }

            // A1111 floors a negative excess to -1 latent pixel and then slices oddly; no excess is no crop.
            truncateX = Math.Max(0, (upscaleWidth - ResizeWidth) / 8);
            truncateY = Math.Max(0, (upscaleHeight - ResizeHeight) / 8);
        }

        var latentWidth = upscaleWidth / 8;
        var latentHeight = upscaleHeight / 8;
        return new HiresPlan(latentWidth, latentHeight, truncateX / 2, truncateY / 2, (latentWidth - truncateX) * 8, (latentHeight - truncateY) * 8);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first hires field out of bounds for this first pass.</summary>
    public void Validate(GenerationLimits limits, int width, int height, int steps)
    {
        Check(Enum.IsDefined(Upscaler), nameof(Upscaler), $"is not an upscaler, {(int)Upscaler}");
        Check(Steps >= 0 && Steps <= limits.MaxSteps, nameof(Steps), $"must be between 0 (the first pass's steps) and {limits.MaxSteps}, not {Steps}");
        Check(float.IsFinite(Strength) && Strength > 0 && Strength <= 1, nameof(Strength), $"must be in (0, 1], not {Strength}");
        var (schedule, _) = Schedule(steps);
        Check(schedule <= MaxScheduleSteps, nameof(Strength), $"{Strength} stretches {StepsAfter(steps)} steps to a {schedule}-step schedule, more than {MaxScheduleSteps}; raise the strength or lower the steps");
        if (Resizes)
        {
            foreach (var (value, name, max) in new[] { (ResizeWidth, nameof(ResizeWidth), limits.MaxWidth), (ResizeHeight, nameof(ResizeHeight), limits.MaxHeight) })
            {
                Check(value == 0 || (value >= limits.MinSide && value <= max), name, $"must be 0 or between {limits.MinSide} and {max}, not {value}");
            }
        }
        else
        {
            Check(float.IsFinite(Scale) && Scale >= 1 && Scale <= MaxScale, nameof(Scale), $"must be between 1 and {MaxScale}, not {Scale}");
        }

        var plan = Plan(width, height);
        var size = string.Create(CultureInfo.InvariantCulture, $"{plan.Width}x{plan.Height}");
        Check(plan.Width >= limits.MinSide && plan.Height >= limits.MinSide && plan.Width <= limits.MaxWidth && plan.Height <= limits.MaxHeight, Resizes ? "Resize" : nameof(Scale), $"gives {size}, outside {limits.MinSide} to {limits.MaxWidth} pixels a side");
        Check((long)plan.Width * plan.Height <= limits.MaxPixels, Resizes ? "Resize" : nameof(Scale), $"gives {size}, more than {limits.MaxPixels} pixels");
    }

    private static void Check(bool condition, string name, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"Hires {name} {problem}.", $"Hires.{name}");
        }
    }
}
