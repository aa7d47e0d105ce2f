using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>One txt2img, img2img or inpainting job for <see cref="DiffusionPipeline"/>.</summary>
public sealed record GenerationRequest
{
    public string Prompt { get; init; } = string.Empty;

    public string NegativePrompt { get; init; } = string.Empty;

    /// <summary>Inference steps. Default: 20.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Classifier-free guidance scale; at or below 1 the unconditional pass is skipped. Default: 7.5.</summary>
    public float GuidanceScale { get; init; } = 7.5f;

    /// <summary>The seed of image 0; image <c>i</c> uses <c>Seed + i</c> (as AUTOMATIC1111 does).</summary>
    public long Seed { get; init; }

    /// <summary>Width in pixels, a multiple of 8. Default: 512.</summary>
    public int Width { get; init; } = 512;

    /// <summary>Height in pixels, a multiple of 8. Default: 512.</summary>
    public int Height { get; init; } = 512;

    /// <summary>The sampler; null means the one the model's <c>scheduler_config.json</c> names.</summary>
    public SchedulerKind? Scheduler { get; init; }

    /// <summary>Use the Karras sigma schedule (Euler, Euler a, LMS, DPM++ 2M).</summary>
    public bool KarrasSigmas { get; init; }

    /// <summary>Images generated together in one batch. Default: 1.</summary>
    public int ImageCount { get; init; } = 1;

    /// <summary>img2img: the init image as planar RGB floats in [-1, 1], exactly <see cref="Width"/> x <see cref="Height"/>.</summary>
    public float[]? InitImage { get; init; }

    /// <summary>img2img: how much of the schedule to run over the init image (0 keeps it, 1 ignores it). Default: 0.75.</summary>
    public float Strength { get; init; } = 0.75f;

    /// <summary>
    /// CLIP skip as AUTOMATIC1111 counts it (<c>CLIP_stop_at_last_layers</c>): 1 uses the text encoder's last layer, 2 the
    /// one before it, and so on, through the final layer norm. Above 1 the text encoder export must output its hidden
    /// states. Default: 1.
    /// </summary>
    public int ClipSkip { get; init; } = 1;

    /// <summary>
    /// SDXL's <c>time_ids</c> (original size, crop top-left, target size); null means diffusers' defaults for this size
    /// (<see cref="SizeConditioning.Default"/>). Only SDXL models take it. Default: null.
    /// </summary>
    public SizeConditioning? SizeConditioning { get; init; }

    /// <summary>Render a cheap latent preview every this many steps; 0 for none. Default: 0.</summary>
    public int PreviewInterval { get; init; }

    /// <summary>
    /// Inpainting: how much to repaint each pixel of <see cref="InitImage"/>, <c>[height, width]</c> in [0, 1] (1
    /// repaints, 0 keeps; soft edges blend). Null for plain img2img. The pixels it keeps come back unchanged.
    /// </summary>
    public float[]? Mask { get; init; }

    /// <summary>Inpainting: what the masked area starts from (A1111's <c>inpainting_fill</c>). Default: <see cref="InpaintFill.Original"/>.</summary>
    public InpaintFill InpaintFill { get; init; } = InpaintFill.Original;

    /// <summary>
    /// Inpainting: render only the box around the mask, at the full size, and scale it back into place (A1111's
    /// <c>inpaint_full_res</c>, "Only masked"): more detail for a small area. Default: false.
    /// </summary>
    public bool InpaintOnlyMasked { get; init; }

    /// <summary>Inpainting with <see cref="InpaintOnlyMasked"/>: pixels of context around the mask's box (A1111's <c>inpaint_full_res_padding</c>). Default: 0.</summary>
    public int InpaintPadding { get; init; }

    /// <summary>
    /// txt2img only: AUTOMATIC1111's hires fix, a second pass over the enlarged latents; the image then has the hires
    /// size and <see cref="Width"/> x <see cref="Height"/> is the first pass's. Null for none. Default: null.
    /// </summary>
    public HiresFix? Hires { get; init; }

    /// <summary>The size of the images: the hires size with <see cref="Hires"/>, else <see cref="Width"/> x <see cref="Height"/>.</summary>
    public (int Width, int Height) OutputSize => Hires?.Plan(Width, Height) is { } plan ? (plan.Width, plan.Height) : (Width, Height);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that is out of bounds.</summary>
    public void Validate(GenerationLimits limits)
    {
        ArgumentNullException.ThrowIfNull(Prompt, nameof(Prompt));
        ArgumentNullException.ThrowIfNull(NegativePrompt, nameof(NegativePrompt));
        Check(Steps >= 1 && Steps <= limits.MaxSteps, nameof(Steps), $"must be between 1 and {limits.MaxSteps}, not {Steps}");
        Check(float.IsFinite(GuidanceScale) && GuidanceScale >= 0 && GuidanceScale <= limits.MaxGuidanceScale, nameof(GuidanceScale), $"must be between 0 and {limits.MaxGuidanceScale}, not {GuidanceScale}");
        Check(Seed >= 0, nameof(Seed), $"must not be negative, not {Seed}");
        CheckSide(Width, limits.MaxWidth, nameof(Width), limits.MinSide);
        CheckSide(Height, limits.MaxHeight, nameof(Height), limits.MinSide);
        Check((long)Width * Height <= limits.MaxPixels, nameof(Width), $"x {nameof(Height)} must be at most {limits.MaxPixels} pixels, not {Width}x{Height}");
        Check(ImageCount >= 1 && ImageCount <= limits.MaxImages, nameof(ImageCount), $"must be between 1 and {limits.MaxImages}, not {ImageCount}");
        Check(PreviewInterval >= 0, nameof(PreviewInterval), "must not be negative");
        Check(ClipSkip >= 1, nameof(ClipSkip), $"must be at least 1 (1 uses the last layer), not {ClipSkip}");
        if (SizeConditioning?.Problem() is { } conditioning)
        {
            Check(false, nameof(SizeConditioning), conditioning);
        }

        if (InitImage is not null)
        {
            Check(InitImage.Length == 3 * Width * Height, nameof(InitImage), $"must hold 3 x {Width} x {Height} floats, not {InitImage.Length}");
            Check(float.IsFinite(Strength) && Strength > 0 && Strength <= 1, nameof(Strength), $"must be in (0, 1], not {Strength}");
            Check((int)(Steps * Strength) >= 1, nameof(Strength), $"{Strength} of {Steps} steps runs no step; raise the strength or the steps");
        }

        if (Hires is not null)
        {
            Check(InitImage is null, nameof(Hires), "is txt2img's second pass; an img2img or inpainting request cannot take it");
            Hires.Validate(limits, Width, Height, Steps);
        }

        if (Mask is not null)
        {
            Check(InitImage is not null, nameof(Mask), "needs an init image to mask");
            Check(Mask.Length == Width * Height, nameof(Mask), $"must hold {Width} x {Height} floats, not {Mask.Length}");
            Check(Mask.All(m => m is >= 0f and <= 1f), nameof(Mask), "values must be in [0, 1]");
            Check(Mask.Any(m => m > 0f), nameof(Mask), "repaints nothing");
            Check(Enum.IsDefined(InpaintFill), nameof(InpaintFill), $"is not a fill, {(int)InpaintFill}");
            Check(InpaintPadding >= 0 && InpaintPadding <= Math.Max(Width, Height), nameof(InpaintPadding), $"must be between 0 and {Math.Max(Width, Height)}, not {InpaintPadding}");
        }
    }

    private static void CheckSide(int value, int max, string name, int min) =>
        Check(value >= min && value <= max && value % 8 == 0, name, $"must be a multiple of 8 between {min} and {max}, not {value}");

    private static void Check(bool condition, string name, string problem)
    {
        if (!condition)
        {
            throw new ArgumentException($"{name} {problem}.", name);
        }
    }
}
