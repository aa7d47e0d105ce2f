using System.Text.Json.Serialization;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// The body of <c>POST /v1/images/generations</c> as OpenAI defines it, plus what other local servers accept
/// (<c>negative_prompt</c>, <c>steps</c> or <c>step</c>, <c>seed</c>). Unknown fields are ignored, and so are
/// <c>quality</c>, <c>style</c>, <c>user</c> and <c>moderation</c>.
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
    long? Seed = null,
    int? OutputCompression = null,
    int? PartialImages = null);

/// <summary>The answer: <c>{"created", "data": [...], "output_format", "size", "usage"}</c>.</summary>
public sealed record OpenAIImagesResponse(long Created, IReadOnlyList<OpenAIImageData> Data, string OutputFormat, string Size, OpenAIImageUsage Usage);

/// <summary>
/// OpenAI's <c>usage</c> of an image request, counted the way this server can: the text tokens are what the model's
/// CLIP tokenizer makes of the prompt and the negative prompt (AUTOMATIC1111's count, as <c>POST /v1/tokenize</c>
/// gives it), and every image, an edit's input or a generated one, counts as one image token.
/// </summary>
public sealed record OpenAIImageUsage(
    int InputTokens,
    int OutputTokens,
    int TotalTokens,
    OpenAITokenDetails InputTokensDetails,
    OpenAITokenDetails OutputTokensDetails)
{
    public static OpenAIImageUsage Of(int textTokens, int inputImages, int outputImages) => new(
        textTokens + inputImages,
        outputImages,
        textTokens + inputImages + outputImages,
        new OpenAITokenDetails(inputImages, textTokens),
        new OpenAITokenDetails(outputImages, 0));
}

/// <summary>How many of the tokens are images and how many text.</summary>
public sealed record OpenAITokenDetails(int ImageTokens, int TextTokens);

/// <summary>
/// A streamed partial image, <c>image_generation.partial_image</c> (<c>image_edit.partial_image</c> for edits): a
/// latent preview of image 0 at the generated size, in the requested output format.
/// </summary>
public sealed record OpenAIPartialImageEvent(
    string Type,
    [property: JsonPropertyName("b64_json")] string B64Json,
    long CreatedAt,
    string Size,
    string Quality,
    string Background,
    string OutputFormat,
    int PartialImageIndex);

/// <summary>A streamed final image, <c>image_generation.completed</c> (<c>image_edit.completed</c>), with the request's usage.</summary>
public sealed record OpenAIImageCompletedEvent(
    string Type,
    [property: JsonPropertyName("b64_json")] string B64Json,
    long CreatedAt,
    string Size,
    string Quality,
    string Background,
    string OutputFormat,
    OpenAIImageUsage Usage);

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
