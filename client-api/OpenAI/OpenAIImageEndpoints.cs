using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Imaging;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// <c>POST /v1/images/generations</c> and <c>POST /v1/images/edits</c>, the OpenAI Images API over a native job,
/// answered when it is done or streamed as server-sent events (<c>stream: true</c>). OpenAI model names
/// (<c>dall-e-2</c>, <c>dall-e-3</c>, <c>gpt-image-1</c>) and any other name the cluster does not serve mean the default
/// model; a model id the cluster serves is honoured. Every error, including malformed JSON, a missing or wrong key and
/// rate limits, is OpenAI's <c>{"error": {...}}</c>.
/// </summary>
public static partial class OpenAIImageEndpoints
{
    private const int OpenAIMaxImages = 10;

    /// <summary>OpenAI's bound on <c>partial_images</c>.</summary>
    private const int MaxPartialImages = 3;

    /// <summary>The prefixes of the streamed event types: <c>image_generation.partial_image</c>, <c>image_edit.completed</c>.</summary>
    private const string GenerationEvents = "image_generation", EditEvents = "image_edit";

    public static IEndpointRouteBuilder MapOpenAIImageApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/images")
            .WithTags("OpenAI")
            .WithMetadata(OpenAIErrorShape.Instance)
            .RequireAuthorization()
            .RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapPost("/generations", GenerateAsync).WithName("OpenAICreateImage");
        group.MapPost("/edits", EditAsync).WithName("OpenAIEditImage");
        return app;
    }

    public static async Task<Results<Ok<OpenAIImagesResponse>, ServerSentEventsResult<object>, JsonHttpResult<OpenAIErrorResponse>>> GenerateAsync(
        HttpRequest http,
        [AsParameters] OpenAIImageServices services,
        IOptions<JsonOptions> json,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var body = await JsonBody.ReadAsync<OpenAIImageRequest>(http, json.Value.SerializerOptions, cancellationToken);
        if (body.Value is not { } request)
        {
            return OpenAIErrorShape.Result(body.StatusCode, body.Error!, body.Field, "invalid_json");
        }

        if (Check(request) is { } invalid)
        {
            return invalid;
        }

        // "auto" or no size: the model's own (1024 x 1024 for SDXL), as OpenAI's own "auto" is the model's choice.
        var (width, height) = ParseSize(request.Size)!.Value;
        var (prompt, negative) = SplitPrompt(request.Prompt!, request.NegativePrompt);
        var served = await services.Grains.GetGrain<IModelInfoGrain>(0).GetModels();
        var model = served.Any(m => string.Equals(m.Id, request.Model, StringComparison.Ordinal)) ? request.Model : null;
        var native = new CreateGenerationRequest(
            prompt, negative, width, height, request.Steps ?? request.Step, Seed: request.Seed, N: request.N ?? 1, Model: model);
        var errors = GenerationRequestValidator.Validate(native);
        if (errors.Count > 0)
        {
            var (field, messages) = errors.First();
            var param = field is "width" or "height" ? "size" : field;
            return OpenAIErrorShape.Result(StatusCodes.Status400BadRequest, $"Invalid '{param}': {messages[0]}", param, "invalid_value");
        }

        return await RunAsync(http, services, native, inpaint: null, request.Prompt!, OutputOf(request, GenerationEvents), user, cancellationToken);
    }

    /// <summary>
    /// Submits a valid request, then streams it (<see cref="StreamAsync"/>) or waits for it and answers with its images
    /// as OpenAI does; the answer's <c>size</c> is the one generated (the model's own where the request left it to the
    /// model). The prompt is tokenized first, for <c>usage</c>, so a fault there leaves no job behind.
    /// </summary>
    private static async Task<Results<Ok<OpenAIImagesResponse>, ServerSentEventsResult<object>, JsonHttpResult<OpenAIErrorResponse>>> RunAsync(
        HttpRequest http,
        OpenAIImageServices services,
        CreateGenerationRequest native,
        InpaintOptions? inpaint,
        string sentPrompt,
        OpenAIOutput output,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var generations = services.Generations;
        var id = await generations.NewIdAsync();
        var inputImages = inpaint is null ? 0 : 1;
        int textTokens;
        JobSnapshot snapshot;
        try
        {
            textTokens = await CountTextTokensAsync(services.Grains, native);
            var apiKey = GenerationEndpoints.ApiKeyOf(user);
            snapshot = await (inpaint is null
                ? generations.SubmitAsync(id, native, apiKey, cancellationToken)
                : generations.SubmitAsync(id, native, apiKey, inpaint, cancellationToken));
            if (output.Stream)
            {
                var answer = new OpenAIAnswer(id, output, SizeOf(snapshot, native), textTokens, inputImages);
                return TypedResults.ServerSentEvents(StreamAsync(http.HttpContext, services, answer, cancellationToken));
            }

            snapshot = await generations.WaitAsync(id, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Nobody waits for the images any more: free the worker.
            await generations.Job(id).Cancel();
            throw;
        }
        catch (Exception e) when (ErrorFor(e, http.HttpContext) is { } error)
        {
            return error;
        }

        if (FailureOf(snapshot) is { } failure)
        {
            return TypedResults.Json(failure, statusCode: StatusCodes.Status500InternalServerError);
        }

        var size = SizeOf(snapshot, native);
        List<OpenAIImageData>? data;
        try
        {
            data = await DataOfAsync(http.HttpContext, services, snapshot, output, native.Prompt == sentPrompt ? null : native.Prompt, cancellationToken);
        }
        catch (Exception e) when (ErrorFor(e, http.HttpContext) is { } error)
        {
            return error;
        }

        if (data is null)
        {
            return OpenAIErrorShape.Result(StatusCodes.Status500InternalServerError, ImageMissing, null, "image_missing");
        }

        var created = (snapshot.CompletedAt ?? snapshot.CreatedAt).ToUnixTimeSeconds();
        return TypedResults.Ok(new OpenAIImagesResponse(
            created, data, output.Encoding.Format, size, OpenAIImageUsage.Of(textTokens, inputImages, snapshot.Images.Count)));
    }

    private const string ImageMissing = "A generated image is missing from storage.";

    /// <summary>
    /// The job's images as OpenAI data: base64 in the requested encoding, or URLs (a PNG straight from storage where it
    /// issues read URLs, else the native image route, which converts to JPEG or WebP). Null when an image is gone.
    /// </summary>
    private static async Task<List<OpenAIImageData>?> DataOfAsync(
        HttpContext http, OpenAIImageServices services, JobSnapshot snapshot, OpenAIOutput output, string? revised, CancellationToken cancellationToken)
    {
        var data = new List<OpenAIImageData>(snapshot.Images.Count);
        for (var index = 0; index < snapshot.Images.Count; index++)
        {
            var image = snapshot.Images[index];
            if (output.Base64)
            {
                if (await services.Transcoder.ReadAsync(image, output.Encoding, cancellationToken) is not { } bytes)
                {
                    return null;
                }

                data.Add(new OpenAIImageData(Convert.ToBase64String(bytes), null, revised));
            }
            else if (output.Encoding.IsPng)
            {
                var url = await services.Generations.DirectUrlAsync(image, cancellationToken) is { } direct
                    ? direct.ToString()
                    : GenerationEndpoints.ImageUrl(http, snapshot.Id, index);
                data.Add(new OpenAIImageData(null, url, revised));
            }
            else
            {
                var url = string.Create(
                    CultureInfo.InvariantCulture,
                    $"{GenerationEndpoints.ImageUrl(http, snapshot.Id, index)}?format={output.Encoding.Format}&quality={output.Encoding.Quality}");
                data.Add(new OpenAIImageData(null, url, revised));
            }
        }

        return data;
    }

    /// <summary>OpenAI's error for a job that did not succeed; null when it did.</summary>
    private static OpenAIErrorResponse? FailureOf(JobSnapshot snapshot) => snapshot.Status switch
    {
        JobStatus.Succeeded => null,
        JobStatus.Cancelled => OpenAIErrorShape.Body(StatusCodes.Status500InternalServerError, "The generation was cancelled.", null, "cancelled"),
        _ => OpenAIErrorShape.Body(StatusCodes.Status500InternalServerError, $"The generation failed: {snapshot.Error}", null, snapshot.Status.ToString().ToLowerInvariant()),
    };

    /// <summary>The generated size as OpenAI writes it, <c>WIDTHxHEIGHT</c>: the job's, else the request's, else <c>auto</c>.</summary>
    private static string SizeOf(JobSnapshot snapshot, CreateGenerationRequest native) => snapshot.Spec is { } spec
        ? string.Create(CultureInfo.InvariantCulture, $"{spec.Width}x{spec.Height}")
        : native is { Width: { } width, Height: { } height } ? string.Create(CultureInfo.InvariantCulture, $"{width}x{height}") : "auto";

    /// <summary>
    /// The text tokens of <c>usage</c>: the model's CLIP tokenizer's count of the prompt and the negative prompt, as
    /// <c>POST /v1/tokenize</c> gives it (AUTOMATIC1111's count, weights and <c>BREAK</c> read).
    /// </summary>
    private static async Task<int> CountTextTokensAsync(IGrainFactory grains, CreateGenerationRequest native)
    {
        var info = grains.GetGrain<IModelInfoGrain>(0);
        var model = native.Model ?? string.Empty;
        var prompt = info.Tokenize(model, native.Prompt ?? string.Empty);
        var negative = string.IsNullOrEmpty(native.NegativePrompt) ? null : info.Tokenize(model, native.NegativePrompt);
        return (await prompt).TokenCount + (negative is null ? 0 : (await negative).TokenCount);
    }

    /// <summary>
    /// What the answer looks like. Base64 when asked for, when streaming (events carry base64 only), and by default for
    /// OpenAI's GPT image model names, for which OpenAI always answers in base64 (LibreChat reads nothing else); URLs
    /// by default for <c>dall-e-*</c> names and this server's own.
    /// </summary>
    private static OpenAIOutput OutputOf(OpenAIImageRequest request, string eventPrefix)
    {
        var stream = request.Stream == true;
        return new OpenAIOutput(
            stream || request.ResponseFormat == "b64_json" || (request.ResponseFormat is null && IsGptImageModel(request.Model)),
            ImageEncoding.Create(request.OutputFormat, request.OutputCompression),
            stream,
            request.PartialImages ?? 0,
            request.Quality is "low" or "medium" or "high" ? request.Quality : "auto",
            eventPrefix);
    }

    /// <summary>OpenAI's GPT image models (<c>gpt-image-1</c>, <c>gpt-image-1-mini</c>, ..., <c>chatgpt-image-latest</c>).</summary>
    private static bool IsGptImageModel(string? model) =>
        model is not null
        && (model.StartsWith("gpt-image", StringComparison.OrdinalIgnoreCase) || model.StartsWith("chatgpt-image", StringComparison.OrdinalIgnoreCase));

    /// <summary>The OpenAI-specific checks, before the native bounds; null when they pass.</summary>
    private static JsonHttpResult<OpenAIErrorResponse>? Check(OpenAIImageRequest request)
    {
        static JsonHttpResult<OpenAIErrorResponse> Bad(string message, string param, string code = "invalid_value") =>
            OpenAIErrorShape.Result(StatusCodes.Status400BadRequest, message, param, code);

        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            return Bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }

        if (request.N is { } n && (n < 1 || n > GenerationRequestValidator.MaxImages))
        {
            return Bad(
                n is >= 1 and <= OpenAIMaxImages
                    ? $"Invalid 'n': {n}. This server generates at most {GenerationRequestValidator.MaxImages} images per request."
                    : $"Invalid 'n': {n}. Must be between 1 and {GenerationRequestValidator.MaxImages}.",
                "n");
        }

        if (ParseSize(request.Size) is null)
        {
            return Bad(
                $"Invalid 'size': '{request.Size}'. Use 'auto' (the model's own size) or 'WIDTHxHEIGHT' with sides a multiple of 8 between {GenerationRequestValidator.MinSide} and {GenerationRequestValidator.MaxSide}.",
                "size");
        }

        if (request.ResponseFormat is not (null or "url" or "b64_json"))
        {
            return Bad($"Invalid 'response_format': '{request.ResponseFormat}'. Use 'url' or 'b64_json'.", "response_format");
        }

        if (ImageEncoding.FormatName(request.OutputFormat) is null)
        {
            return Bad($"Invalid 'output_format': '{request.OutputFormat}'. This server writes {ImageEncoding.Names}.", "output_format", "unsupported_value");
        }

        if (!ImageEncoding.IsQuality(request.OutputCompression))
        {
            return Bad($"Invalid 'output_compression': {request.OutputCompression}. Must be between 0 and {ImageEncoding.MaxQuality}.", "output_compression");
        }

        if (request.PartialImages is < 0 or > MaxPartialImages)
        {
            return Bad($"Invalid 'partial_images': {request.PartialImages}. Must be between 0 and {MaxPartialImages}.", "partial_images");
        }

        if (request.Background is "transparent")
        {
            return Bad("Transparent backgrounds are not supported by this server; use 'auto' or 'opaque'.", "background", "unsupported_value");
        }

        return null;
    }

    /// <summary>
    /// <c>auto</c> or no size is (null, null), the model's own size; <c>WxH</c> as two integers; null when it is neither.
    /// </summary>
    private static (int? Width, int? Height)? ParseSize(string? size)
    {
        if (size is null || size.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }

        var parts = size.Split('x', 'X');
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height)
                ? (width, height)
                : null;
    }

    /// <summary>
    /// <c>"positive|negative"</c> (what several local servers accept) splits at the first bar, but only when no
    /// <c>negative_prompt</c> is sent: then a bar is the client's own text.
    /// </summary>
    private static (string Prompt, string? Negative) SplitPrompt(string prompt, string? negative)
    {
        if (negative is not null)
        {
            return (prompt, negative);
        }

        var bar = prompt.IndexOf('|', StringComparison.Ordinal);
        return bar < 0 ? (prompt, null) : (prompt[..bar].Trim(), prompt[(bar + 1)..].Trim());
    }

    /// <summary>
    /// What submitting or reading the images threw, in OpenAI's shape (<see cref="ApiFaults"/>); null when unexpected. The
    /// cluster names the spec's field: a size the model cannot generate is OpenAI's <c>size</c>.
    /// </summary>
    private static JsonHttpResult<OpenAIErrorResponse>? ErrorFor(Exception e, HttpContext http) =>
        ApiFaults.Answer(e, http) is { } fault
            ? OpenAIErrorShape.Result(fault.StatusCode, fault.Message, e switch
            {
                InvalidMaskException => "mask",
                InvalidImageException => "image",
                ArgumentException { ParamName: "Width" or "Height" } => "size",
                _ => null,
            }, fault.Code)
            : null;
}
