using System.Globalization;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// How an AUTOMATIC1111 txt2img or img2img body becomes a native job, and how a finished job becomes A1111's answer
/// (base64 PNGs, parameters, the info string with its infotexts). <c>/sdapi/v1</c> and the RunPod-shaped endpoint, whose
/// <c>input</c> is an A1111 body, both go through here.
/// </summary>
public static class Automatic1111Mapping
{
    public const int DefaultSteps = 50;
    public const double DefaultCfgScale = 7;
    public const double DefaultDenoisingStrength = 0.75;
    private const bool DefaultInpaintFullRes = true;
    private const string Version = "OrleansDiffusion";

    /// <summary>A1111's setting for CLIP skip, in <c>override_settings</c> and <c>/sdapi/v1/options</c>.</summary>
    public const string ClipSkipSetting = "CLIP_stop_at_last_layers";

    /// <summary>A1111's SDXL crop coordinates (its <c>crop_coords_top_left</c> conditioning), in <c>override_settings</c>.</summary>
    private const string CropTopSetting = "sdxl_crop_top";

    /// <summary>See <see cref="CropTopSetting"/>.</summary>
    private const string CropLeftSetting = "sdxl_crop_left";

    /// <summary>
    /// The native request for an A1111 body, with the sampler, schedule and model it resolves to; or, when the body
    /// cannot be served, the refusal in A1111's terms (404 for an unknown sampler or schedule type, 422 otherwise).
    /// The model is the one the body's <c>override_settings</c> names, else the one <paramref name="apiKey"/> chose, else
    /// the cluster's default; so is the CLIP skip.
    /// </summary>
    public static async Task<Automatic1111Plan> PlanAsync(Automatic1111Request request, bool img2img, IGrainFactory grains, string apiKey)
    {
        static Automatic1111Plan Refuse(int status, string detail) => new(null, status, detail);
        static Automatic1111Plan Invalid(string detail) => Refuse(StatusCodes.Status422UnprocessableEntity, detail);

        var samplerName = request.SamplerName ?? request.SamplerIndex ?? Automatic1111Samplers.DefaultSampler;
        if (Automatic1111Samplers.FindSampler(samplerName) is not var (sampler, legacyKarras))
        {
            return Refuse(StatusCodes.Status404NotFound, "Sampler not found");
        }

        if (Automatic1111Samplers.FindSchedule(request.Scheduler) is not { } schedule)
        {
            return Refuse(StatusCodes.Status404NotFound, "Scheduler not found");
        }

        var karras = legacyKarras || schedule.Karras;
        if (karras && !sampler.SupportsKarras)
        {
            return Invalid($"The {sampler.Name} sampler has no Karras schedule.");
        }

        var models = await ModelsAsync(grains);
        var model = await CurrentModelAsync(grains, models, apiKey);
        if (request.OverrideSettings is { } overrides && overrides.TryGetValue("sd_model_checkpoint", out var checkpoint) && checkpoint.ValueKind == JsonValueKind.String)
        {
            model = FindModel(models, checkpoint.GetString());
            if (model is null)
            {
                return Invalid($"Model not found: {checkpoint.GetString()}");
            }
        }

        int clipSkip;
        if (request.OverrideSettings is { } settingsOverride && settingsOverride.TryGetValue(ClipSkipSetting, out var clipSkipValue))
        {
            if (ReadClipSkip(clipSkipValue) is not { } value)
            {
                return Invalid(ClipSkipProblem(clipSkipValue));
            }

            clipSkip = value;
        }
        else
        {
            clipSkip = await grains.GetGrain<IKeySettingsGrain>(apiKey).GetClipSkip() ?? 1;
        }

        int[]? crop = null;
        if (request.OverrideSettings is { } cropOverride)
        {
            var top = 0;
            var left = 0;
            foreach (var (setting, assign) in new (string, Action<int>)[] { (CropTopSetting, v => top = v), (CropLeftSetting, v => left = v) })
            {
                if (cropOverride.TryGetValue(setting, out var cropValue))
                {
                    if (ReadWholeNumber(cropValue, 0, GenerationRequestValidator.MaxConditioningPixels) is not { } value)
                    {
                        return Invalid($"{setting} must be a whole number between 0 and {GenerationRequestValidator.MaxConditioningPixels}, not {cropValue.GetRawText()}.");
                    }

                    assign(value);
                }
            }

            // A1111's default (0, 0) is no crop, which every model takes; a crop is SDXL's, and an SD model refuses it.
            crop = top != 0 || left != 0 ? [top, left] : null;
        }

        var batchSize = request.BatchSize ?? 1;
        var iterations = request.NIter ?? 1;
        if (batchSize < 1 || iterations < 1 || (long)batchSize * iterations > GenerationRequestValidator.MaxImages)
        {
            return Invalid($"batch_size x n_iter must be between 1 and {GenerationRequestValidator.MaxImages} images.");
        }

        string? initImage = null;
        var inpaint = new InpaintOptions();
        if (img2img)
        {
            if (request.InitImages is not [{ Length: > 0 } first, ..])
            {
                return Invalid("init_images: at least one image (base64 or a data URL) is required.");
            }

            initImage = first;
            if (InpaintOptionsOf(request) is not { } options)
            {
                return Invalid(InpaintProblem(request)!);
            }

            inpaint = options;
        }

        // No width or height: the model's own size (1024 x 1024 for SDXL), where A1111 would take 512.
        var native = new CreateGenerationRequest(
            request.Prompt,
            request.NegativePrompt,
            request.Width,
            request.Height,
            request.Steps ?? DefaultSteps,
            request.CfgScale ?? DefaultCfgScale,
            request.Seed,
            sampler.Scheduler + (karras ? "_karras" : string.Empty),
            batchSize * iterations,
            model?.Id,
            initImage,
            img2img ? request.DenoisingStrength ?? DefaultDenoisingStrength : null,
            clipSkip,
            img2img ? request.Mask : null,
            CropsCoordsTopLeft: crop,
            Hires: !img2img && request.EnableHr == true ? HiresOf(request) : null);
        var errors = GenerationRequestValidator.Validate(native);
        if (errors.Count > 0)
        {
            return Invalid(string.Join(" ", errors.Select(e => $"{Rename(e.Key)}: {e.Value[0]}")));
        }

        return new(new(native, inpaint, new(sampler, schedule, karras, model, inpaint.Mask.BlurX), batchSize, iterations), StatusCodes.Status200OK, null);
    }

    /// <summary>
    /// A1111's answer for a finished job: its images as base64 PNGs (none when <paramref name="sendImages"/> is false),
    /// <paramref name="parameters"/>, and the info string. Null when an image is no longer in storage.
    /// </summary>
    public static async Task<Automatic1111Response?> ResponseAsync(
        JobSnapshot final,
        Automatic1111Request parameters,
        Automatic1111Names names,
        DateTimeOffset startedAt,
        bool sendImages,
        GenerationService generations,
        JsonSerializerOptions json,
        CancellationToken cancellationToken)
    {
        var images = new List<string>(final.Images.Count);
        if (sendImages)
        {
            foreach (var image in final.Images)
            {
                if (await generations.ReadImageAsync(image, cancellationToken) is not { } bytes)
                {
                    return null;
                }

                images.Add(Convert.ToBase64String(bytes));
            }
        }

        var spec = final.Spec!;
        var img2img = spec.InitImageKey is not null;
        var info = Info(final, spec, names, img2img, startedAt);
        return new Automatic1111Response(images, parameters, JsonSerializer.Serialize(info, json));
    }

    /// <summary>The body as A1111 echoes it in <c>parameters</c>: as sent, with the values the job resolved (seed -1 stays -1).</summary>
    public static Automatic1111Request Parameters(Automatic1111Request request, Automatic1111Generation generation, GenerationSpec spec) => request with
    {
        Prompt = spec.Prompt,
        NegativePrompt = spec.NegativePrompt,
        Seed = request.Seed ?? -1,
        SamplerName = generation.Names.Sampler.Name,
        Scheduler = generation.Names.Schedule.Label,
        BatchSize = generation.BatchSize,
        NIter = generation.Iterations,
        Steps = spec.Steps,
        CfgScale = request.CfgScale ?? DefaultCfgScale,
        Width = spec.Width,
        Height = spec.Height,
        DenoisingStrength = request.DenoisingStrength ?? DefaultDenoisingStrength,
        InitImages = null,
        Mask = null,
    };

    /// <summary>
    /// The A1111 view of a job whose body is not at hand (the RunPod endpoint keeps none): the sampler and schedule
    /// from the job's scheduler, the model from the catalog, and <c>parameters</c> as the job ran (its resolved seed,
    /// one batch of all its images). The mask blur is not kept with a job, so its infotext omits it.
    /// </summary>
    public static (Automatic1111Request Parameters, Automatic1111Names Names) FromJob(GenerationSpec spec, IReadOnlyList<ModelInfo> models)
    {
        // A native job may name a scheduler A1111 has no sampler for: it is reported by its own name.
        var (sampler, karras) = Automatic1111Samplers.FindSampler(spec.Scheduler) ?? (new Sampler(spec.Scheduler, spec.Scheduler, []), false);
        var schedule = karras ? Automatic1111Samplers.Schedules.First(s => s.Karras) : Automatic1111Samplers.Schedules[0];
        var model = models.FirstOrDefault(m => m.Id == spec.Model);
        var img2img = spec.InitImageKey is not null;
        var parameters = new Automatic1111Request
        {
            Prompt = spec.Prompt,
            NegativePrompt = spec.NegativePrompt,
            Seed = spec.Seed,
            SamplerName = sampler.Name,
            Scheduler = schedule.Label,
            BatchSize = spec.ImageCount,
            NIter = 1,
            Steps = spec.Steps,
            CfgScale = spec.GuidanceScale,
            Width = spec.Width,
            Height = spec.Height,
            DenoisingStrength = img2img ? spec.Strength : spec.Hires?.DenoisingStrength,
            EnableHr = spec.Hires is not null ? true : null,
            HrScale = spec.Hires?.Scale,
            HrResizeX = spec.Hires?.ResizeWidth,
            HrResizeY = spec.Hires?.ResizeHeight,
            HrSecondPassSteps = spec.Hires?.Steps,
            HrUpscaler = spec.Hires?.Upscaler,
            OverrideSettings = spec.ClipSkip > 1 ? new() { [ClipSkipSetting] = JsonSerializer.SerializeToElement(spec.ClipSkip) } : null,
        };
        return (parameters, new Automatic1111Names(sampler, schedule, karras, model, MaskBlur: null));
    }

    private static Automatic1111Info Info(
        JobSnapshot final, GenerationSpec spec, Automatic1111Names names, bool img2img, DateTimeOffset startedAt)
    {
        var (sampler, schedule, karras, model) = (names.Sampler, names.Schedule, names.Karras, names.Model);
        var count = spec.ImageCount;
        var seeds = Enumerable.Range(0, count).Select(i => spec.Seed + i).ToList();
        var scheduleLabel = karras ? "Karras" : schedule.Label;
        var modelName = model?.Id ?? spec.Model;
        var hash = model is null ? string.Empty : ShortHash(model);
        string Infotext(long seed)
        {
            var text = new StringBuilder(spec.Prompt);
            if (spec.NegativePrompt.Length > 0)
            {
                text.Append("\nNegative prompt: ").Append(spec.NegativePrompt);
            }

            text.Append(CultureInfo.InvariantCulture, $"\nSteps: {spec.Steps}, Sampler: {sampler.Name}, Schedule type: {scheduleLabel}, CFG scale: {spec.GuidanceScale}, Seed: {seed}, Size: {spec.Width}x{spec.Height}, Model hash: {hash}, Model: {modelName}");
            if (img2img)
            {
                text.Append(CultureInfo.InvariantCulture, $", Denoising strength: {spec.Strength}");
            }
            else if (spec.Hires is { } hiresStrength)
            {
                text.Append(CultureInfo.InvariantCulture, $", Denoising strength: {hiresStrength.DenoisingStrength}");
            }

            if (spec.ClipSkip > 1)
            {
                text.Append(CultureInfo.InvariantCulture, $", Clip skip: {spec.ClipSkip}");
            }

            if (spec.MaskKey is not null)
            {
                if (names.MaskBlur is { } blur)
                {
                    text.Append(CultureInfo.InvariantCulture, $", Mask blur: {blur}");
                }

                if (spec.InpaintOnlyMasked)
                {
                    text.Append(CultureInfo.InvariantCulture, $", Inpaint area: Only masked, Masked area padding: {spec.InpaintPadding}");
                }
            }

            if (spec.Hires is { } hires)
            {
                // As A1111's txt2img adds them: the scale or the resize as asked, the steps when set, the upscaler.
                if (hires.ResizeWidth != 0 || hires.ResizeHeight != 0)
                {
                    text.Append(CultureInfo.InvariantCulture, $", Hires resize: {hires.ResizeWidth}x{hires.ResizeHeight}");
                }
                else
                {
                    text.Append(CultureInfo.InvariantCulture, $", Hires upscale: {hires.Scale}");
                }

                if (hires.Steps != 0)
                {
                    text.Append(CultureInfo.InvariantCulture, $", Hires steps: {hires.Steps}");
                }

                text.Append(", Hires upscaler: ").Append(hires.Upscaler);
            }

            return text.Append(", Version: ").Append(Version).ToString();
        }

        return new Automatic1111Info(
            spec.Prompt,
            [.. Enumerable.Repeat(spec.Prompt, count)],
            spec.NegativePrompt,
            [.. Enumerable.Repeat(spec.NegativePrompt, count)],
            spec.Seed,
            seeds,
            -1,
            [.. Enumerable.Repeat(-1L, count)],
            0,
            spec.Width,
            spec.Height,
            sampler.Name,
            scheduleLabel,
            spec.GuidanceScale,
            spec.Steps,
            count,
            false,
            modelName,
            hash,
            img2img ? spec.Strength : spec.Hires?.DenoisingStrength,
            Timestamp(startedAt),
            [.. final.Images.Select(i => Infotext(i.Seed))],
            spec.ClipSkip,
            final.Status == JobStatus.Cancelled,
            Version);
    }

    /// <summary>A1111's hires fields as the native request's, with A1111's API defaults (scale 2, strength 0.75, "Latent").</summary>
    private static HiresRequest HiresOf(Automatic1111Request request) => new(
        request.HrScale ?? 2,
        request.HrResizeX ?? 0,
        request.HrResizeY ?? 0,
        request.HrSecondPassSteps ?? 0,
        request.DenoisingStrength ?? DefaultDenoisingStrength,
        request.HrUpscaler ?? LatentUpscalers.Default);

    /// <summary>
    /// A1111's inpainting fields as the native request's mask options, with A1111's API defaults (blur 4, fill, only
    /// masked with no padding); null when one is out of range (<see cref="InpaintProblem"/> says which).
    /// </summary>
    private static InpaintOptions? InpaintOptionsOf(Automatic1111Request request)
    {
        if (InpaintProblem(request) is not null)
        {
            return null;
        }

        // A1111's mask_blur, when sent, sets both directions.
        var blurX = request.MaskBlur ?? request.MaskBlurX ?? InpaintOptions.DefaultBlur;
        var blurY = request.MaskBlur ?? request.MaskBlurY ?? InpaintOptions.DefaultBlur;
        var onlyMasked = request.InpaintFullRes ?? DefaultInpaintFullRes;
        return new InpaintOptions
        {
            Mask = new MaskOptions { BlurX = blurX, BlurY = blurY, Invert = request.InpaintingMaskInvert == 1 },
            Fill = (InpaintFill)(request.InpaintingFill ?? (int)InpaintFill.Fill),
            OnlyMasked = onlyMasked,
            Padding = onlyMasked ? request.InpaintFullResPadding ?? 0 : 0,
        };
    }

    /// <summary>Which inpainting field is out of range, in A1111's words; null when none is.</summary>
    private static string? InpaintProblem(Automatic1111Request request)
    {
        foreach (var (field, value) in new[] { ("mask_blur", request.MaskBlur), ("mask_blur_x", request.MaskBlurX), ("mask_blur_y", request.MaskBlurY) })
        {
            if (value is < 0 or > MaskOptions.MaxBlur)
            {
                return $"{field}: must be between 0 and {MaskOptions.MaxBlur} pixels.";
            }
        }

        if (request.InpaintingMaskInvert is not (null or 0 or 1))
        {
            return "inpainting_mask_invert: must be 0 (repaint the masked area) or 1 (repaint the rest).";
        }

        if (request.InpaintingFill is not (null or >= 0 and <= 3))
        {
            return "inpainting_fill: must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing).";
        }

        if (request.InpaintFullResPadding is < 0 or > GenerationRequestValidator.MaxSide)
        {
            return $"inpaint_full_res_padding: must be between 0 and {GenerationRequestValidator.MaxSide} pixels.";
        }

        return null;
    }

    public static async Task<IReadOnlyList<ModelInfo>> ModelsAsync(IGrainFactory grains) =>
        await grains.GetGrain<IModelInfoGrain>(0).GetModels();

    /// <summary>The model the caller's key chose with POST options, while the cluster still serves it; else the cluster's default.</summary>
    public static async Task<ModelInfo?> CurrentModelAsync(IGrainFactory grains, IReadOnlyList<ModelInfo> models, string apiKey)
    {
        var chosen = await grains.GetGrain<IKeySettingsGrain>(apiKey).GetModel();
        return models.FirstOrDefault(m => m.Id == chosen) ?? models.FirstOrDefault(m => m.IsDefault) ?? models.FirstOrDefault();
    }

    /// <summary>A checkpoint by title (<c>id [hash]</c>), model name, short hash or SHA-256, as A1111 matches them.</summary>
    public static ModelInfo? FindModel(IReadOnlyList<ModelInfo> models, string? name) =>
        string.IsNullOrWhiteSpace(name)
            ? null
            : models.FirstOrDefault(m =>
                TitleOf(m).Equals(name, StringComparison.OrdinalIgnoreCase)
                || m.Id.Equals(name, StringComparison.OrdinalIgnoreCase)
                || (m.Hash.Length > 0 && (ShortHash(m).Equals(name, StringComparison.OrdinalIgnoreCase) || m.Hash.Equals(name, StringComparison.OrdinalIgnoreCase))));

    public static string TitleOf(ModelInfo model) => model.Hash.Length > 0 ? $"{model.Id} [{ShortHash(model)}]" : model.Id;

    public static string ShortHash(ModelInfo model) => model.Hash[..Math.Min(10, model.Hash.Length)];

    public static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    /// <summary>A CLIP skip as A1111 clients send it: a whole number from 1 (the last layer) up, as a number or a numeric string.</summary>
    public static int? ReadClipSkip(JsonElement value) => ReadWholeNumber(value, 1, GenerationRequestValidator.MaxClipSkip);

    /// <summary>A setting as A1111 clients send it, a number or a numeric string; null unless a whole number within the bounds.</summary>
    public static int? ReadWholeNumber(JsonElement value, int min, int max)
    {
        double number;
        if (value.ValueKind == JsonValueKind.Number)
        {
            number = value.GetDouble();
        }
        else if (value.ValueKind != JsonValueKind.String || !double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number))
        {
            return null;
        }

        return number >= min && number <= max && number == Math.Floor(number) ? (int)number : null;
    }

    public static string ClipSkipProblem(JsonElement value) =>
        $"{ClipSkipSetting} must be a whole number between 1 (the last layer) and {GenerationRequestValidator.MaxClipSkip}, not {value.GetRawText()}.";

    /// <summary>The native field names in the A1111 vocabulary.</summary>
    private static string Rename(string field) => field switch
    {
        "guidance_scale" => "cfg_scale",
        "n" => "batch_size",
        "strength" => "denoising_strength",
        "init_image" => "init_images",
        "scheduler" => "sampler_name",
        "clip_skip" => ClipSkipSetting,
        "crops_coords_top_left" => $"{CropTopSetting}/{CropLeftSetting}",
        "hires" => "enable_hr",
        "hires.scale" => "hr_scale",
        "hires.resize_width" => "hr_resize_x",
        "hires.resize_height" => "hr_resize_y",
        "hires.steps" => "hr_second_pass_steps",
        "hires.denoising_strength" => "denoising_strength",
        "hires.upscaler" => "hr_upscaler",
        _ => field,
    };
}

/// <summary>An A1111 body resolved for the cluster: the native request, how its mask is read, and the names A1111 reports.</summary>
public sealed record Automatic1111Generation(CreateGenerationRequest Native, InpaintOptions Inpaint, Automatic1111Names Names, int BatchSize, int Iterations);

/// <summary>What A1111 reports about a job: its sampler, schedule type and model, and the mask blur (null when not known).</summary>
public sealed record Automatic1111Names(Sampler Sampler, ScheduleType Schedule, bool Karras, ModelInfo? Model, int? MaskBlur);

/// <summary>What <see cref="Automatic1111Mapping.PlanAsync"/> made of a body: the generation, or the status and detail of its refusal.</summary>
public sealed record Automatic1111Plan(Automatic1111Generation? Generation, int Status, string? Refusal);
