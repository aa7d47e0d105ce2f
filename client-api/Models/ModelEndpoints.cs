using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Api.Models;

/// <summary><c>GET /v1/models</c>, <c>GET /v1/schedulers</c> and <c>POST /v1/tokenize</c>.</summary>
public static class ModelEndpoints
{
    public static IEndpointRouteBuilder MapModelApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1")
            .WithTags("Models")
            .RequireAuthorization()
            .RequireRateLimiting(ApiHostingExtensions.PerKeyReadPolicy);
        group.MapGet("/models", GetModelsAsync).WithName("GetModels");
        group.MapPost("/tokenize", TokenizeAsync).WithName("Tokenize");
        group.MapGet("/schedulers", GetSchedulers).WithName("GetSchedulers");
        return app;
    }

    public static async Task<Ok<ModelList>> GetModelsAsync(IGrainFactory grains)
    {
        var models = await grains.GetGrain<IModelInfoGrain>(0).GetModels();
        return TypedResults.Ok(new ModelList("list", [.. models.Select(ModelDto.From)]));
    }

    /// <summary>The scheduler names a request may ask for (the page's list).</summary>
    public static Ok<IReadOnlyList<string>> GetSchedulers() => TypedResults.Ok(SchedulerFactory.Names);

    public static async Task<Results<Ok<TokenizeResponse>, ValidationProblem, ProblemHttpResult>> TokenizeAsync([FromBody] TokenizeRequest request, IGrainFactory grains)
    {
        if (request.Prompt is null)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["prompt"] = ["The prompt is required."] });
        }

        if (request.Prompt.Length > GenerationRequestValidator.MaxPromptLength)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["prompt"] = [$"The prompt must be at most {GenerationRequestValidator.MaxPromptLength} characters."] });
        }

        if (!PromptAttention.TryParse(request.Prompt, out _, out var syntaxError))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["prompt"] = [syntaxError] });
        }

        try
        {
            var result = await grains.GetGrain<IModelInfoGrain>(0).Tokenize(request.Model ?? string.Empty, request.Prompt);
            return TypedResults.Ok(new TokenizeResponse(
                result.Model,
                result.Ids,
                result.Tokens,
                result.ContentTokens,
                result.MaxContentTokens,
                result.Truncated,
                [.. result.Chunks.Select(c => new TokenizeChunk(c.Ids, c.Weights))],
                result.TokenCount));
        }
        catch (ArgumentException e)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");
        }
    }
}

public sealed record ModelList(string Object, IReadOnlyList<ModelDto> Data);

/// <summary>
/// A served model: its family (<c>sd1</c>, <c>sd2</c>, <c>sdxl</c>, <c>sdxl-turbo</c>), what a request that names
/// nothing gets (<c>defaults</c>), the sizes it can generate (<c>sizes</c>) and what it takes (<c>supports</c>); a
/// generated demo model says what it is in <c>demo_notice</c> (the full-size ones: not a picture generator).
/// </summary>
public sealed record ModelDto(
    string Id,
    string Object,
    bool Default,
    bool Demo,
    string? DemoNotice,
    string DefaultScheduler,
    string Family,
    ModelDefaultsDto Defaults,
    ModelSizesDto Sizes,
    ModelSupportDto Supports)
{
    public static ModelDto From(ModelInfo model) => new(
        model.Id,
        "model",
        model.IsDefault,
        model.IsDemo,
        model.DemoNotice,
        model.DefaultScheduler,
        model.Family,
        new ModelDefaultsDto(model.Defaults.Width, model.Defaults.Height, model.Defaults.Steps, model.Defaults.GuidanceScale),
        new ModelSizesDto(model.Sizes.Multiple, model.Sizes.MinSide, model.Sizes.MaxSide, model.Sizes.MaxPixels),
        new ModelSupportDto(
            model.Supports.MaxClipSkip > 1,
            model.Supports.MaxClipSkip,
            model.Supports.NegativePrompt,
            model.Supports.Guidance,
            model.Supports.Img2Img,
            model.Supports.Img2Img,
            model.Inpainting,
            model.Lcm,
            model.Supports.SizeConditioning));
}

/// <summary>The size, steps and guidance a request that names none gets.</summary>
public sealed record ModelDefaultsDto(int Width, int Height, int Steps, float GuidanceScale);

/// <summary>Sides a multiple of <c>multiple</c> between <c>min_side</c> and <c>max_side</c>, at most <c>max_pixels</c> in all.</summary>
public sealed record ModelSizesDto(int Multiple, int MinSide, int MaxSide, int MaxPixels);

/// <summary>
/// <c>clip_skip</c> up to <c>max_clip_skip</c>; <c>negative_prompt</c> and <c>guidance</c> (classifier-free, with an
/// unconditional pass); <c>img2img</c> (init images) and <c>inpainting</c> (masks), which need its VAE encoder;
/// <c>inpainting_unet</c>: its UNet is a 9-channel inpainting UNet (masks give its best results); <c>lcm</c>: its UNet
/// is LCM-distilled (guidance as an embedding, no negative prompt, a few steps, the LCM scheduler by default);
/// <c>size_conditioning</c> (SDXL's <c>original_size</c>, <c>crops_coords_top_left</c>, <c>target_size</c>).
/// </summary>
public sealed record ModelSupportDto(
    bool ClipSkip,
    int MaxClipSkip,
    bool NegativePrompt,
    bool Guidance,
    bool Img2img,
    bool Inpainting,
    bool InpaintingUnet,
    bool Lcm,
    bool SizeConditioning);

public sealed record TokenizeRequest(string? Prompt, string? Model = null);

/// <summary>
/// <c>ids</c>, <c>tokens</c>, <c>content_tokens</c> and <c>truncated</c> describe the text as written in one 77-token
/// sequence (a plain CLIP pipeline's view); <c>chunks</c> is what the engine encodes, AUTOMATIC1111's chunks with each
/// id's attention weight, and <c>token_count</c> the count A1111's prompt box shows.
/// </summary>
public sealed record TokenizeResponse(
    string Model,
    IReadOnlyList<int> Ids,
    IReadOnlyList<string> Tokens,
    int ContentTokens,
    int MaxContentTokens,
    bool Truncated,
    IReadOnlyList<TokenizeChunk> Chunks,
    int TokenCount);

/// <summary>One chunk: 77 ids and 77 weights.</summary>
public sealed record TokenizeChunk(IReadOnlyList<int> Ids, IReadOnlyList<double> Weights);
