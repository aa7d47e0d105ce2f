using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using FromQueryAttribute = Microsoft.AspNetCore.Mvc.FromQueryAttribute;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// The AUTOMATIC1111 web UI API under <c>/sdapi/v1</c>, as Open WebUI, SillyTavern and scripts call it.
/// txt2img and img2img are synchronous over a native job. Validation errors are 422 (FastAPI's status, which A1111
/// answers for a body it cannot accept), an unknown sampler or schedule type is 404 as in A1111, and every error body is
/// A1111's <c>{"error", "detail", "body", "errors"}</c>. Generating spends the key's submit budget, every other
/// call its read budget, and progress polling neither.
/// </summary>
public static class Automatic1111Endpoints
{
    private const int DefaultSteps = 50;
    private const double DefaultCfgScale = 7;
    private const double DefaultDenoisingStrength = 0.75;
    private const bool DefaultInpaintFullRes = true;
    private const string Version = "OrleansDiffusion";

    /// <summary>A1111's setting for CLIP skip, in <c>override_settings</c> and <c>/sdapi/v1/options</c>.</summary>
    private const string ClipSkipSetting = "CLIP_stop_at_last_layers";

    /// <summary>A1111's SDXL crop coordinates (its <c>crop_coords_top_left</c> conditioning), in <c>override_settings</c>.</summary>
    private const string CropTopSetting = "sdxl_crop_top";

    /// <summary>See <see cref="CropTopSetting"/>.</summary>
    private const string CropLeftSetting = "sdxl_crop_left";

    public static IEndpointRouteBuilder MapAutomatic1111Api(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/sdapi/v1")
            .WithTags("AUTOMATIC1111")
            .WithMetadata(Automatic1111ErrorShape.Instance)
            .RequireAuthorization()
            .RequireRateLimiting(ApiHostingExtensions.PerKeyReadPolicy);

        // Generating spends the submit budget (the endpoint's policy overrides the group's read budget); progress,
        // which clients poll several times a second while they wait, spends nothing.
        group.MapPost("/txt2img", Txt2ImgAsync).WithName("A1111Txt2Img").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapPost("/img2img", Img2ImgAsync).WithName("A1111Img2Img").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapGet("/progress", ProgressAsync).WithName("A1111Progress").DisableRateLimiting();
        group.MapPost("/interrupt", InterruptAsync).WithName("A1111Interrupt");
        group.MapPost("/skip", SkipAsync).WithName("A1111Skip");
        group.MapGet("/options", GetOptionsAsync).WithName("A1111GetOptions");
        group.MapPost("/options", SetOptionsAsync).WithName("A1111SetOptions");
        group.MapGet("/sd-models", GetModelsAsync).WithName("A1111Models");
        group.MapGet("/samplers", GetSamplers).WithName("A1111Samplers");
        group.MapGet("/schedulers", GetSchedulers).WithName("A1111Schedulers");
        group.MapGet("/upscalers", GetUpscalers).WithName("A1111Upscalers");
        group.MapGet("/sd-vae", GetVaes).WithName("A1111Vaes");
        group.MapGet("/latent-upscale-modes", GetLatentUpscaleModes).WithName("A1111LatentUpscaleModes");
        return app;
    }

    public static Task<Results<Ok<Automatic1111Response>, JsonHttpResult<Automatic1111Error>>> Txt2ImgAsync(
        HttpRequest http, GenerationService generations, IGrainFactory grains, Automatic1111State state, IOptions<JsonOptions> json, TimeProvider time, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        GenerateAsync(http, img2img: false, generations, grains, state, json.Value.SerializerOptions, time, user, cancellationToken);

    public static Task<Results<Ok<Automatic1111Response>, JsonHttpResult<Automatic1111Error>>> Img2ImgAsync(
        HttpRequest http, GenerationService generations, IGrainFactory grains, Automatic1111State state, IOptions<JsonOptions> json, TimeProvider time, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        GenerateAsync(http, img2img: true, generations, grains, state, json.Value.SerializerOptions, time, user, cancellationToken);

    public static async Task<Ok<Automatic1111Progress>> ProgressAsync(
        [FromQuery(Name = "skip_current_image")] bool? skipCurrentImage,
        GenerationService generations,
        Automatic1111State state,
        TimeProvider time,
        ClaimsPrincipal user)
    {
        var (current, count) = state.Snapshot(GenerationEndpoints.ApiKeyOf(user));
        if (current is null)
        {
            return TypedResults.Ok(new Automatic1111Progress(0, 0, new(false, false, string.Empty, 0, "0", 0, 0, 0), null, null));
        }

        var snapshot = await generations.Job(current.Id).GetSnapshot();
        var steps = snapshot.TotalSteps > 0 ? snapshot.TotalSteps : snapshot.Spec?.StepsWithHires() ?? 0;
        var progress = steps > 0 ? Math.Clamp((double)snapshot.Step / steps, 0, 1) : 0;
        var elapsed = (time.GetUtcNow() - (snapshot.StartedAt ?? current.StartedAt)).TotalSeconds;
        var eta = progress > 0 ? Math.Max(0, (elapsed / progress) - elapsed) : 0;
        var preview = skipCurrentImage == true || current.Preview is not { } bytes ? null : Convert.ToBase64String(bytes);
        var textinfo = snapshot.QueuePosition is { } position ? string.Create(CultureInfo.InvariantCulture, $"In queue at position {position}") : null;
        return TypedResults.Ok(new Automatic1111Progress(
            progress,
            eta,
            new(current.Skipped, current.Interrupted, "txt2img", count, Timestamp(current.StartedAt), 0, snapshot.Step, steps),
            preview,
            textinfo));
    }

    public static Task<Ok<object>> InterruptAsync(GenerationService generations, Automatic1111State state, ClaimsPrincipal user) =>
        StopCurrentAsync(generations, state, GenerationEndpoints.ApiKeyOf(user), skip: false);

    /// <summary>A1111 skips to the next image of a batch; a job here is one unit, so skip stops it like interrupt.</summary>
    public static Task<Ok<object>> SkipAsync(GenerationService generations, Automatic1111State state, ClaimsPrincipal user) =>
        StopCurrentAsync(generations, state, GenerationEndpoints.ApiKeyOf(user), skip: true);

    public static async Task<Ok<Dictionary<string, object>>> GetOptionsAsync(IGrainFactory grains, ClaimsPrincipal user)
    {
        var model = await CurrentModelAsync(grains, await ModelsAsync(grains), user);
        var clipSkip = await grains.GetGrain<IKeySettingsGrain>(GenerationEndpoints.ApiKeyOf(user)).GetClipSkip() ?? 1;
        return TypedResults.Ok(new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["sd_model_checkpoint"] = model is null ? string.Empty : TitleOf(model),
            ["sd_checkpoint_hash"] = model?.Hash ?? string.Empty,
            ["sd_vae"] = "Automatic",
            ["samples_format"] = "png",
            [ClipSkipSetting] = clipSkip,
            ["live_previews_enable"] = true,
            ["live_previews_image_format"] = "jpeg",
            ["show_progress_every_n_steps"] = 5,
        });
    }

    /// <summary>
    /// <c>sd_model_checkpoint</c> and <c>CLIP_stop_at_last_layers</c> change the model and the CLIP skip of the caller's
    /// later requests, through any API process (they are kept in the cluster, per key); other options change nothing.
    /// Both are checked before either is kept.
    /// </summary>
    public static async Task<Results<JsonHttpResult<object?>, JsonHttpResult<Automatic1111Error>>> SetOptionsAsync(
        HttpRequest http, IGrainFactory grains, ClaimsPrincipal user, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadAsync<Dictionary<string, JsonElement>>(http, json.Value.SerializerOptions, cancellationToken);
        if (body.Value is not { } options)
        {
            return Automatic1111ErrorShape.Result(ValidationStatus(body.StatusCode), body.Error!);
        }

        int? clipSkip = null;
        if (options.TryGetValue(ClipSkipSetting, out var clipSkipValue))
        {
            if (ReadClipSkip(clipSkipValue) is not { } value)
            {
                return Automatic1111ErrorShape.Result(StatusCodes.Status422UnprocessableEntity, ClipSkipProblem(clipSkipValue));
            }

            clipSkip = value;
        }

        ModelInfo? model = null;
        if (options.TryGetValue("sd_model_checkpoint", out var checkpoint))
        {
            var name = checkpoint.ValueKind == JsonValueKind.String ? checkpoint.GetString() : null;
            model = FindModel(await ModelsAsync(grains), name);
            if (model is null)
            {
                return Automatic1111ErrorShape.Result(StatusCodes.Status422UnprocessableEntity, $"Model not found: {checkpoint}");
            }
        }

        var settings = grains.GetGrain<IKeySettingsGrain>(GenerationEndpoints.ApiKeyOf(user));
        if (model is not null)
        {
            await settings.SetModel(model.Id);
        }

        if (clipSkip is { } chosen)
        {
            await settings.SetClipSkip(chosen == 1 ? null : chosen);
        }

        return TypedResults.Json<object?>(null);
    }

    public static async Task<Ok<List<Automatic1111Model>>> GetModelsAsync(IGrainFactory grains) =>
        TypedResults.Ok((await ModelsAsync(grains)).Select(m => new Automatic1111Model(TitleOf(m), m.Id, ShortHash(m), m.Hash, m.Id, null)).ToList());

    public static Ok<List<Automatic1111Sampler>> GetSamplers() =>
        TypedResults.Ok(Automatic1111Samplers.All.Select(s => new Automatic1111Sampler(s.Name, s.Aliases, new Dictionary<string, string>())).ToList());

    public static Ok<List<Automatic1111Scheduler>> GetSchedulers() =>
        TypedResults.Ok(Automatic1111Samplers.Schedules.Select(s => new Automatic1111Scheduler(s.Name, s.Label, null, s.DefaultRho, false)).ToList());

    public static Ok<Automatic1111Upscaler[]> GetUpscalers() => TypedResults.Ok<Automatic1111Upscaler[]>(
    [
        new("None", null, null, null, 4),
        new("Lanczos", null, null, null, 4),
        new("Nearest", null, null, null, 4),
    ]);

    public static Ok<Automatic1111Vae[]> GetVaes() => TypedResults.Ok<Automatic1111Vae[]>([]);

    /// <summary>The hires fix upscalers <c>hr_upscaler</c> takes.</summary>
    public static Ok<Automatic1111Named[]> GetLatentUpscaleModes() => TypedResults.Ok<Automatic1111Named[]>([.. LatentUpscalers.Names.Select(name => new Automatic1111Named(name))]);

    private static async Task<Results<Ok<Automatic1111Response>, JsonHttpResult<Automatic1111Error>>> GenerateAsync(
        HttpRequest http,
        bool img2img,
        GenerationService generations,
        IGrainFactory grains,
        Automatic1111State state,
        JsonSerializerOptions json,
        TimeProvider time,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        static JsonHttpResult<Automatic1111Error> Invalid(string detail) => Automatic1111ErrorShape.Result(StatusCodes.Status422UnprocessableEntity, detail);

        var body = await JsonBody.ReadAsync<Automatic1111Request>(http, json, cancellationToken);
        if (body.Value is not { } request)
        {
            return Automatic1111ErrorShape.Result(ValidationStatus(body.StatusCode), body.Error!);
        }

        var samplerName = request.SamplerName ?? request.SamplerIndex ?? Automatic1111Samplers.DefaultSampler;
        if (Automatic1111Samplers.FindSampler(samplerName) is not var (sampler, legacyKarras))
        {
            return Automatic1111ErrorShape.Result(StatusCodes.Status404NotFound, "Sampler not found");
        }

        if (Automatic1111Samplers.FindSchedule(request.Scheduler) is not { } schedule)
        {
            return Automatic1111ErrorShape.Result(StatusCodes.Status404NotFound, "Scheduler not found");
        }

        var karras = legacyKarras || schedule.Karras;
        if (karras && !sampler.SupportsKarras)
        {
            return Invalid($"The {sampler.Name} sampler has no Karras schedule.");
        }

        var models = await ModelsAsync(grains);
        var model = await CurrentModelAsync(grains, models, user);
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
            clipSkip = await grains.GetGrain<IKeySettingsGrain>(GenerationEndpoints.ApiKeyOf(user)).GetClipSkip() ?? 1;
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

        var id = await generations.NewIdAsync();
        var job = state.Begin(GenerationEndpoints.ApiKeyOf(user), id, time.GetUtcNow());
        var submitted = false;
        JobSnapshot final;
        try
        {
            await generations.SubmitAsync(id, native, GenerationEndpoints.ApiKeyOf(user), inpaint, cancellationToken);
            submitted = true;
            final = await generations.WaitAsync(id, cancellationToken, job.Apply);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && submitted)
        {
            // Nobody waits for the images any more: free the worker.
            await generations.Job(id).Cancel();
            throw;
        }
        catch (Exception e) when (ErrorFor(e, http.HttpContext) is { } error)
        {
            return error;
        }
        finally
        {
            state.End(job);
        }

        if (final.Status == JobStatus.Failed)
        {
            return Automatic1111ErrorShape.Result(StatusCodes.Status500InternalServerError, $"The generation failed: {final.Error}");
        }

        // Interrupted or skipped: A1111 answers 200 with what it has; a cancelled job here has no images.
        var images = new List<string>(final.Images.Count);
        if (request.SendImages != false)
        {
            foreach (var image in final.Images)
            {
                var bytes = await generations.ReadImageAsync(image, cancellationToken);
                if (bytes is null)
                {
                    return Automatic1111ErrorShape.Result(StatusCodes.Status500InternalServerError, "A generated image is missing from storage.");
                }

                images.Add(Convert.ToBase64String(bytes));
            }
        }

        var spec = final.Spec!;
        var parameters = request with
        {
            Prompt = spec.Prompt,
            NegativePrompt = spec.NegativePrompt,
            Seed = request.Seed ?? -1,
            SamplerName = sampler.Name,
            Scheduler = schedule.Label,
            BatchSize = batchSize,
            NIter = iterations,
            Steps = spec.Steps,
            CfgScale = request.CfgScale ?? DefaultCfgScale,
            Width = spec.Width,
            Height = spec.Height,
            DenoisingStrength = request.DenoisingStrength ?? DefaultDenoisingStrength,
            InitImages = null,
            Mask = null,
        };
        var info = Info(final, spec, sampler, schedule, karras, model, img2img, spec.MaskKey is null ? null : inpaint, job.StartedAt);
        return TypedResults.Ok(new Automatic1111Response(images, parameters, JsonSerializer.Serialize(info, json)));
    }

    private static Automatic1111Info Info(
        JobSnapshot final, GenerationSpec spec, Sampler sampler, ScheduleType schedule, bool karras, ModelInfo? model, bool img2img, InpaintOptions? inpaint, DateTimeOffset startedAt)
    {
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

            if (inpaint is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $", Mask blur: {inpaint.Mask.BlurX}");
                if (inpaint.OnlyMasked)
                {
                    text.Append(CultureInfo.InvariantCulture, $", Inpaint area: Only masked, Masked area padding: {inpaint.Padding}");
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

    private static async Task<Ok<object>> StopCurrentAsync(GenerationService generations, Automatic1111State state, string apiKey, bool skip)
    {
        if (state.Snapshot(apiKey).Current is { } current)
        {
            if (skip)
            {
                current.Skipped = true;
            }
            else
            {
                current.Interrupted = true;
            }

            await generations.Job(current.Id).Cancel();
        }

        return TypedResults.Ok(new object());
    }

    private static async Task<IReadOnlyList<ModelInfo>> ModelsAsync(IGrainFactory grains) =>
        await grains.GetGrain<IModelInfoGrain>(0).GetModels();

    /// <summary>The model the caller's key chose with POST options, while the cluster still serves it; else the cluster's default.</summary>
    private static async Task<ModelInfo?> CurrentModelAsync(IGrainFactory grains, IReadOnlyList<ModelInfo> models, ClaimsPrincipal user)
    {
        var chosen = await grains.GetGrain<IKeySettingsGrain>(GenerationEndpoints.ApiKeyOf(user)).GetModel();
        return models.FirstOrDefault(m => m.Id == chosen) ?? models.FirstOrDefault(m => m.IsDefault) ?? models.FirstOrDefault();
    }

    /// <summary>A checkpoint by title (<c>id [hash]</c>), model name, short hash or SHA-256, as A1111 matches them.</summary>
    private static ModelInfo? FindModel(IReadOnlyList<ModelInfo> models, string? name) =>
        string.IsNullOrWhiteSpace(name)
            ? null
            : models.FirstOrDefault(m =>
                TitleOf(m).Equals(name, StringComparison.OrdinalIgnoreCase)
                || m.Id.Equals(name, StringComparison.OrdinalIgnoreCase)
                || (m.Hash.Length > 0 && (ShortHash(m).Equals(name, StringComparison.OrdinalIgnoreCase) || m.Hash.Equals(name, StringComparison.OrdinalIgnoreCase))));

    private static string TitleOf(ModelInfo model) => model.Hash.Length > 0 ? $"{model.Id} [{ShortHash(model)}]" : model.Id;

    private static string ShortHash(ModelInfo model) => model.Hash[..Math.Min(10, model.Hash.Length)];

    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);

    // A body that is not JSON, or has a field of the wrong type, is FastAPI's 422; a body too large keeps its 413.
    private static int ValidationStatus(int status) => status == StatusCodes.Status400BadRequest ? StatusCodes.Status422UnprocessableEntity : status;

    /// <summary>A CLIP skip as A1111 clients send it: a whole number from 1 (the last layer) up, as a number or a numeric string.</summary>
    private static int? ReadClipSkip(JsonElement value) => ReadWholeNumber(value, 1, GenerationRequestValidator.MaxClipSkip);

    /// <summary>A setting as A1111 clients send it, a number or a numeric string; null unless a whole number within the bounds.</summary>
    private static int? ReadWholeNumber(JsonElement value, int min, int max)
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

    private static string ClipSkipProblem(JsonElement value) =>
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

    /// <summary>
    /// What submitting threw, in A1111's shape (<see cref="ApiFaults"/>), with FastAPI's 422 for a body it cannot
    /// accept (a bad mask as a bad init image; 413 when too large). Null when unexpected.
    /// </summary>
    private static JsonHttpResult<Automatic1111Error>? ErrorFor(Exception e, HttpContext http)
    {
        if (ApiFaults.Answer(e, http) is not { } fault)
        {
            return null;
        }

        var status = fault.StatusCode == StatusCodes.Status400BadRequest ? StatusCodes.Status422UnprocessableEntity : fault.StatusCode;
        return Automatic1111ErrorShape.Result(status, e is InvalidImageException ? $"init_images: {fault.Message}" : fault.Message);
    }
}
