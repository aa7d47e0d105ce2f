namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// The body of <c>POST /v1/generations</c> (snake_case JSON). Only <c>prompt</c> is required; <c>width</c>,
/// <c>height</c>, <c>steps</c> and <c>guidance_scale</c> default to the model's own (<c>GET /v1/models</c>).
/// <c>mask</c> (base64 or a data URL, as <c>init_image</c>, and of its size) inpaints <c>init_image</c>: white repaints,
/// black keeps, as in AUTOMATIC1111; <c>mask_blur</c> (pixels, default 4) softens its edge.
/// <c>original_size</c> and <c>target_size</c> (<c>[height, width]</c>) and <c>crops_coords_top_left</c>
/// (<c>[top, left]</c>) are SDXL's size conditioning, in diffusers' order and with its defaults. <c>hires</c> adds
/// AUTOMATIC1111's hires fix (<see cref="HiresRequest"/>).
/// </summary>
public sealed record CreateGenerationRequest(
    string? Prompt,
    string? NegativePrompt = null,
    int? Width = null,
    int? Height = null,
    int? Steps = null,
    double? GuidanceScale = null,
    long? Seed = null,
    string? Scheduler = null,
    int? N = null,
    string? Model = null,
    string? InitImage = null,
    double? Strength = null,
    int? ClipSkip = null,
    string? Mask = null,
    int? MaskBlur = null,
    int[]? OriginalSize = null,
    int[]? CropsCoordsTopLeft = null,
    int[]? TargetSize = null,
    HiresRequest? Hires = null);

/// <summary>
/// <c>hires</c> of <c>POST /v1/generations</c>: AUTOMATIC1111's hires fix with a latent upscaler (txt2img only). The
/// image is <c>scale</c> times the first pass (<c>width</c> x <c>height</c>), or <c>resize_width</c> x
/// <c>resize_height</c> (one of them 0 keeps the ratio; both set, the enlargement covers them and the excess is cropped
/// evenly); a second pass of <c>steps</c> (0: as many as the first) repaints it with <c>denoising_strength</c>.
/// Defaults: scale 2, steps 0, denoising strength 0.75, upscaler <c>Latent</c>.
/// </summary>
public sealed record HiresRequest(
    double? Scale = null,
    int? ResizeWidth = null,
    int? ResizeHeight = null,
    int? Steps = null,
    double? DenoisingStrength = null,
    string? Upscaler = null);

/// <summary>A job as the native API shows it.</summary>
public sealed record GenerationResponse(
    Guid Id,
    string Status,
    int? QueuePosition,
    GenerationProgressDto Progress,
    bool Cached,
    IReadOnlyList<GeneratedImageDto> Images,
    string? Error,
    string? Model,
    long? Seed,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt);

public sealed record GenerationProgressDto(int Step, int Steps);

public sealed record GeneratedImageDto(string Url, long Seed, int Width, int Height);
