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
        return TypedResults.Ok(new ModelList("list", [.. models.Select(m => new ModelDto(
            m.Id, "model", m.IsDefault, m.IsDemo, m.DefaultScheduler, new ModelSupports(m.Img2Img, m.Img2Img, m.Inpainting, m.Lcm)))]));
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

public sealed record ModelDto(string Id, string Object, bool Default, bool Demo, string DefaultScheduler, ModelSupports Supports);

/// <summary>
/// What a model can do: <c>img2img</c> (init images) and <c>inpainting</c> (masks) need its VAE encoder;
/// <c>inpainting_unet</c>: its UNet is a 9-channel inpainting UNet (masks give its best results); <c>lcm</c>: its UNet
/// is LCM-distilled (guidance as an embedding, no negative prompt, a few steps, the LCM scheduler by default).
/// </summary>
public sealed record ModelSupports(bool Img2img, bool Inpainting, bool InpaintingUnet, bool Lcm);

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
