using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// Bounds for every field a client sends, checked before anything is stored or queued; the same bounds back the
/// OpenAI- and AUTOMATIC1111-compatible endpoints.
/// </summary>
public static class GenerationRequestValidator
{
    public const int MaxPromptLength = 4000;
    public const int MinSide = 64;

    /// <summary>The largest side of any model (SDXL's); each model may allow less, which the cluster checks.</summary>
    public const int MaxSide = 2048;

    /// <summary>The largest width x height of any model: 1024 x 1024, what the unit quotas are planned for.</summary>
    public const int MaxPixels = 1024 * 1024;

    /// <summary>The largest value of SDXL's size conditioning (sizes and crop coordinates).</summary>
    public const int MaxConditioningPixels = 8192;
    public const int MaxSteps = 150;
    public const int MaxImages = 8;
    public const double MaxGuidance = 30;
    public const long MaxSeed = uint.MaxValue;

    /// <summary>The largest CLIP skip a request may ask (AUTOMATIC1111's slider); a model may allow fewer.</summary>
    public const int MaxClipSkip = 12;

    /// <summary>Field errors keyed by the JSON field name; empty when the request is valid.</summary>
    public static Dictionary<string, string[]> Validate(CreateGenerationRequest request)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        void Fail(string field, string message) => errors[field] = [message];

        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            Fail("prompt", "The prompt is required.");
        }
        else if (request.Prompt.Length > MaxPromptLength)
        {
            Fail("prompt", $"The prompt must be at most {MaxPromptLength} characters.");
        }
        else if (!PromptAttention.TryParse(request.Prompt, out _, out var promptError))
        {
            Fail("prompt", promptError);
        }

        if (request.NegativePrompt is { Length: > MaxPromptLength })
        {
            Fail("negative_prompt", $"The negative prompt must be at most {MaxPromptLength} characters.");
        }
        else if (request.NegativePrompt is { } negative && !PromptAttention.TryParse(negative, out _, out var negativeError))
        {
            Fail("negative_prompt", negativeError);
        }

        if (request.ClipSkip is { } clipSkip && (clipSkip < 1 || clipSkip > MaxClipSkip))
        {
            Fail("clip_skip", $"Must be between 1 (the last layer) and {MaxClipSkip}.");
        }

        foreach (var (field, value) in new[] { ("width", request.Width), ("height", request.Height) })
        {
            if (value is { } side && (side < MinSide || side > MaxSide || side % 8 != 0))
            {
                Fail(field, $"Must be a multiple of 8 between {MinSide} and {MaxSide}.");
            }
        }

        if (request.Width is { } w && request.Height is { } h && !errors.ContainsKey("width") && !errors.ContainsKey("height") && (long)w * h > MaxPixels)
        {
            Fail("width", $"width x height must be at most {MaxPixels} pixels (1024 x 1024).");
        }

        foreach (var (field, value, first, second, min) in new[]
        {
            ("original_size", request.OriginalSize, "height", "width", 1),
            ("crops_coords_top_left", request.CropsCoordsTopLeft, "top", "left", 0),
            ("target_size", request.TargetSize, "height", "width", 1),
        })
        {
            if (value is not null && (value.Length != 2 || value.Any(v => v < min || v > MaxConditioningPixels)))
            {
                Fail(field, $"Must be [{first}, {second}], each between {min} and {MaxConditioningPixels} pixels (SDXL's size conditioning).");
            }
        }

        if (request.Steps is { } steps && (steps < 1 || steps > MaxSteps))
        {
            Fail("steps", $"Must be between 1 and {MaxSteps}.");
        }

        if (request.GuidanceScale is { } guidance && (!double.IsFinite(guidance) || guidance < 0 || guidance > MaxGuidance))
        {
            Fail("guidance_scale", $"Must be between 0 and {MaxGuidance}.");
        }

        if (request.Seed is { } seed && seed != -1 && (seed < 0 || seed > MaxSeed))
        {
            Fail("seed", $"Must be -1 (random) or between 0 and {MaxSeed}.");
        }

        if (request.N is { } n && (n < 1 || n > MaxImages))
        {
            Fail("n", $"Must be between 1 and {MaxImages}.");
        }

        if (!string.IsNullOrEmpty(request.Scheduler) && !SchedulerFactory.TryParse(request.Scheduler, out _, out _))
        {
            Fail("scheduler", $"Unknown scheduler. Known: {string.Join(", ", SchedulerFactory.Names)}.");
        }

        if (request.Model is { Length: > 64 })
        {
            Fail("model", "Unknown model.");
        }

        if (request.Strength is { } strength && (!double.IsFinite(strength) || strength <= 0 || strength > 1))
        {
            Fail("strength", "Must be greater than 0 and at most 1.");
        }

        if (!string.IsNullOrEmpty(request.Mask) && string.IsNullOrEmpty(request.InitImage))
        {
            Fail("mask", "A mask needs the init_image it masks.");
        }

        if (request.MaskBlur is { } blur && (blur < 0 || blur > MaskOptions.MaxBlur))
        {
            Fail("mask_blur", $"Must be between 0 and {MaskOptions.MaxBlur} pixels.");
        }

        if (request.Hires is { } hires)
        {
            ValidateHires(hires, !string.IsNullOrEmpty(request.InitImage), Fail);
        }

        return errors;
    }

    /// <summary>
    /// The hires fields' own bounds; the hires size against the model's sizes is the cluster's check, as the first
    /// pass's size may be the model's own.
    /// </summary>
    private static void ValidateHires(HiresRequest hires, bool img2img, Action<string, string> fail)
    {
        if (img2img)
        {
            fail("hires", "The hires fix is txt2img's second pass; it cannot be combined with init_image.");
        }

        if (hires.Scale is { } scale && (!double.IsFinite(scale) || scale < 1 || scale > HiresFix.MaxScale))
        {
            fail("hires.scale", $"Must be between 1 and {HiresFix.MaxScale}.");
        }

        foreach (var (field, value) in new[] { ("hires.resize_width", hires.ResizeWidth), ("hires.resize_height", hires.ResizeHeight) })
        {
            if (value is { } side && side != 0 && (side < MinSide || side > MaxSide))
            {
                fail(field, $"Must be 0 (follow the ratio) or between {MinSide} and {MaxSide}.");
            }
        }

        if (hires.Steps is { } steps && (steps < 0 || steps > MaxSteps))
        {
            fail("hires.steps", $"Must be between 0 (as many as the first pass) and {MaxSteps}.");
        }

        if (hires.DenoisingStrength is { } strength && (!double.IsFinite(strength) || strength <= 0 || strength > 1))
        {
            fail("hires.denoising_strength", "Must be greater than 0 and at most 1.");
        }

        if (hires.Upscaler is { } upscaler && !LatentUpscalers.TryParse(upscaler, out _))
        {
            fail("hires.upscaler", LatentUpscalers.Unsupported(upscaler));
        }
    }

    /// <summary>
    /// The cluster's spec for a valid request; a missing or -1 seed becomes a random one here. A missing size is 0, the
    /// model's own, which the cluster fills in (<see cref="GenerationService"/> fills it first where it needs it).
    /// </summary>
    public static GenerationSpec ToSpec(CreateGenerationRequest request, string? initImageKey) => new()
    {
        Model = request.Model ?? string.Empty,
        Prompt = request.Prompt!,
        NegativePrompt = request.NegativePrompt ?? string.Empty,
        Width = request.Width ?? 0,
        Height = request.Height ?? 0,
        Steps = request.Steps ?? 20,
        GuidanceScale = (float)(request.GuidanceScale ?? 7.5),
        Seed = request.Seed is null or -1 ? Random.Shared.NextInt64(0, MaxSeed + 1) : request.Seed.Value,
        Scheduler = request.Scheduler ?? string.Empty,
        ImageCount = request.N ?? 1,
        InitImageKey = initImageKey,
        Strength = (float)(request.Strength ?? 0.75),
        ClipSkip = request.ClipSkip ?? 1,
        OriginalSize = request.OriginalSize is [var originalHeight, var originalWidth] ? new PixelSize(originalHeight, originalWidth) : null,
        CropsCoordsTopLeft = request.CropsCoordsTopLeft is [var top, var left] ? new CropOrigin(top, left) : null,
        TargetSize = request.TargetSize is [var targetHeight, var targetWidth] ? new PixelSize(targetHeight, targetWidth) : null,
        Hires = request.Hires is { } hires
            ? new HiresSpec
            {
                Scale = (float)(hires.Scale ?? 2),
                ResizeWidth = hires.ResizeWidth ?? 0,
                ResizeHeight = hires.ResizeHeight ?? 0,
                Steps = hires.Steps ?? 0,
                DenoisingStrength = (float)(hires.DenoisingStrength ?? 0.75),
                Upscaler = hires.Upscaler ?? LatentUpscalers.Default,
            }
            : null,
    };
}
