using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// <c>POST /v1/images/generations</c> and <c>POST /v1/images/edits</c>, the OpenAI Images API, synchronously over a
/// native job. OpenAI model names (<c>dall-e-2</c>, <c>dall-e-3</c>, <c>gpt-image-1</c>) and any other name the cluster
/// does not serve mean the default model; a model id the cluster serves is honoured. Every error, including malformed
/// JSON, a missing or wrong key and rate limits, is OpenAI's <c>{"error": {...}}</c>.
/// </summary>
public static partial class OpenAIImageEndpoints
{
    private const int OpenAIMaxImages = 10;

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

    public static async Task<Results<Ok<OpenAIImagesResponse>, JsonHttpResult<OpenAIErrorResponse>>> GenerateAsync(
        HttpRequest http,
        GenerationService generations,
        IGrainFactory grains,
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
        var served = await grains.GetGrain<IModelInfoGrain>(0).GetModels();
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

        return await RunAsync(http, generations, native, inpaint: null, request.Prompt!, request.ResponseFormat, user, cancellationToken);
    }

    /// <summary>
    /// Submits a valid request, waits for it and answers with its images as OpenAI does; the answer's <c>size</c> is the
    /// one generated (the model's own where the request left it to the model).
    /// </summary>
    private static async Task<Results<Ok<OpenAIImagesResponse>, JsonHttpResult<OpenAIErrorResponse>>> RunAsync(
        HttpRequest http,
        GenerationService generations,
        CreateGenerationRequest native,
        InpaintOptions? inpaint,
        string sentPrompt,
        string? responseFormat,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var id = await generations.NewIdAsync();
        JobSnapshot snapshot;
        try
        {
            var apiKey = GenerationEndpoints.ApiKeyOf(user);
            await (inpaint is null
                ? generations.SubmitAsync(id, native, apiKey, cancellationToken)
                : generations.SubmitAsync(id, native, apiKey, inpaint, cancellationToken));
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

        if (snapshot.Status != JobStatus.Succeeded)
        {
            var reason = snapshot.Status == JobStatus.Cancelled ? "The generation was cancelled." : $"The generation failed: {snapshot.Error}";
            return OpenAIErrorShape.Result(StatusCodes.Status500InternalServerError, reason, null, snapshot.Status.ToString().ToLowerInvariant());
        }

        var revised = native.Prompt == sentPrompt ? null : native.Prompt;
        var data = new List<OpenAIImageData>(snapshot.Images.Count);
        for (var index = 0; index < snapshot.Images.Count; index++)
        {
            var image = snapshot.Images[index];
            if (responseFormat == "b64_json")
            {
                var bytes = await generations.ReadImageAsync(image, cancellationToken);
                if (bytes is null)
                {
                    return OpenAIErrorShape.Result(StatusCodes.Status500InternalServerError, "A generated image is missing from storage.", null, "image_missing");
                }

                data.Add(new OpenAIImageData(Convert.ToBase64String(bytes), null, revised));
            }
            else
            {
                var url = await generations.DirectUrlAsync(image, cancellationToken) is { } direct
                    ? direct.ToString()
                    : GenerationEndpoints.ImageUrl(http.HttpContext, id, index);
                data.Add(new OpenAIImageData(null, url, revised));
            }
        }

        var created = (snapshot.CompletedAt ?? snapshot.CreatedAt).ToUnixTimeSeconds();
        var size = snapshot.Spec is { } spec
            ? string.Create(CultureInfo.InvariantCulture, $"{spec.Width}x{spec.Height}")
            : native is { Width: { } width, Height: { } height } ? string.Create(CultureInfo.InvariantCulture, $"{width}x{height}") : "auto";
        return TypedResults.Ok(new OpenAIImagesResponse(created, data, "png", size));
    }

    /// <summary>The OpenAI-specific checks, before the native bounds; null when they pass.</summary>
    private static JsonHttpResult<OpenAIErrorResponse>? Check(OpenAIImageRequest request)
    {
        static JsonHttpResult<OpenAIErrorResponse> Bad(string message, string param, string code = "invalid_value") =>
            OpenAIErrorShape.Result(StatusCodes.Status400BadRequest, message, param, code);

        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            return Bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }

        if (request.Stream == true)
        {
            return Bad("Streaming image generation is not supported by this server; send stream: false or leave it out.", "stream", "unsupported_value");
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

        if (request.OutputFormat is not (null or "png"))
        {
            return Bad($"Invalid 'output_format': '{request.OutputFormat}'. This server only produces 'png'.", "output_format", "unsupported_value");
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
