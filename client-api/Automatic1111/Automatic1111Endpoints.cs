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
            new(current.Skipped, current.Interrupted, "txt2img", count, Automatic1111Mapping.Timestamp(current.StartedAt), 0, snapshot.Step, steps),
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
        var model = await Automatic1111Mapping.CurrentModelAsync(grains, await Automatic1111Mapping.ModelsAsync(grains), GenerationEndpoints.ApiKeyOf(user));
        var clipSkip = await grains.GetGrain<IKeySettingsGrain>(GenerationEndpoints.ApiKeyOf(user)).GetClipSkip() ?? 1;
        return TypedResults.Ok(new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["sd_model_checkpoint"] = model is null ? string.Empty : Automatic1111Mapping.TitleOf(model),
            ["sd_checkpoint_hash"] = model?.Hash ?? string.Empty,
            ["sd_vae"] = "Automatic",
            ["samples_format"] = "png",
            [Automatic1111Mapping.ClipSkipSetting] = clipSkip,
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
        if (options.TryGetValue(Automatic1111Mapping.ClipSkipSetting, out var clipSkipValue))
        {
            if (Automatic1111Mapping.ReadClipSkip(clipSkipValue) is not { } value)
            {
                return Automatic1111ErrorShape.Result(StatusCodes.Status422UnprocessableEntity, Automatic1111Mapping.ClipSkipProblem(clipSkipValue));
            }

            clipSkip = value;
        }

        ModelInfo? model = null;
        if (options.TryGetValue("sd_model_checkpoint", out var checkpoint))
        {
            var name = checkpoint.ValueKind == JsonValueKind.String ? checkpoint.GetString() : null;
            model = Automatic1111Mapping.FindModel(await Automatic1111Mapping.ModelsAsync(grains), name);
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
        TypedResults.Ok((await Automatic1111Mapping.ModelsAsync(grains)).Select(m => new Automatic1111Model(Automatic1111Mapping.TitleOf(m), m.Id, Automatic1111Mapping.ShortHash(m), m.Hash, m.Id, null)).ToList());

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
        var body = await JsonBody.ReadAsync<Automatic1111Request>(http, json, cancellationToken);
        if (body.Value is not { } request)
        {
            return Automatic1111ErrorShape.Result(ValidationStatus(body.StatusCode), body.Error!);
        }

        var plan = await Automatic1111Mapping.PlanAsync(request, img2img, grains, GenerationEndpoints.ApiKeyOf(user));
        if (plan.Generation is not { } generation)
        {
            return Automatic1111ErrorShape.Result(plan.Status, plan.Refusal!);
        }

        var native = generation.Native;
        var id = await generations.NewIdAsync();
        var job = state.Begin(GenerationEndpoints.ApiKeyOf(user), id, time.GetUtcNow());
        var submitted = false;
        JobSnapshot final;
        try
        {
            await generations.SubmitAsync(id, native, GenerationEndpoints.ApiKeyOf(user), generation.Inpaint, cancellationToken);
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
        var parameters = Automatic1111Mapping.Parameters(request, generation, final.Spec!);
        return await Automatic1111Mapping.ResponseAsync(final, parameters, generation.Names, job.StartedAt, request.SendImages != false, generations, json, cancellationToken) is { } response
            ? TypedResults.Ok(response)
            : Automatic1111ErrorShape.Result(StatusCodes.Status500InternalServerError, "A generated image is missing from storage.");
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

    // A body that is not JSON, or has a field of the wrong type, is FastAPI's 422; a body too large keeps its 413.
    private static int ValidationStatus(int status) => status == StatusCodes.Status400BadRequest ? StatusCodes.Status422UnprocessableEntity : status;

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
