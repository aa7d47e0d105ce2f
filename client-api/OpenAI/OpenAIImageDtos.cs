using System.Text.Json.Serialization;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// The body of <c>POST /v1/images/generations</c> as OpenAI defines it, plus what other local servers accept
/// (<c>negative_prompt</c>, <c>steps</c> or <c>step</c>, <c>seed</c>). Unknown fields are ignored.
/// </summary>
public sealed record OpenAIImageRequest(
    string? Prompt,
    string? Model = null,
    int? N = null,
    string? Size = null,
    string? ResponseFormat = null,
    string? OutputFormat = null,
    string? Quality = null,
    string? Style = null,
    string? User = null,
    string? Background = null,
    string? Moderation = null,
    bool? Stream = null,
    string? NegativePrompt = null,
    int? Steps = null,
    int? Step = null,
    long? Seed = null);

/// <summary>The answer: <c>{"created", "data": [...], "output_format", "size"}</c>.</summary>
public sealed record OpenAIImagesResponse(long Created, IReadOnlyList<OpenAIImageData> Data, string OutputFormat, string Size);

/// <summary>One image: base64 PNG or a URL, and the prompt actually used when it differs from the one sent.</summary>
public sealed record OpenAIImageData(
    [property: JsonPropertyName("b64_json")] string? B64Json,
    string? Url,
    string? RevisedPrompt);

/// <summary>OpenAI's error envelope.</summary>
public sealed record OpenAIErrorResponse(OpenAIError Error);

/// <summary><c>param</c> and <c>code</c> are always present, null when they don't apply, as OpenAI writes them.</summary>
public sealed record OpenAIError(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);
