using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// The body of <c>POST /v1/generations</c> (snake_case JSON). Only <c>prompt</c> is required; <c>width</c>,
/// <c>height</c>, <c>steps</c> and <c>guidance_scale</c> default to the model's own (<c>GET /v1/models</c>).
/// <c>mask</c> (base64 or a data URL, as <c>init_image</c>, and of its size) inpaints <c>init_image</c>: white repaints,
/// black keeps, as in AUTOMATIC1111; <c>mask_blur</c> (pixels, default 4) softens its edge.
/// <c>original_size</c> and <c>target_size</c> (<c>[height, width]</c>) and <c>crops_coords_top_left</c>
/// (<c>[top, left]</c>) are SDXL's size conditioning, in diffusers' order and with its defaults. <c>hires</c> adds
/// AUTOMATIC1111's hires fix (<see cref="HiresRequest"/>). <c>webhook</c> is a URL the cluster posts the job's
/// <c>webhook_events</c> to (default: the outcomes), signed as Standard Webhooks do.
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
    HiresRequest? Hires = null,
    string? Webhook = null,
    string[]? WebhookEvents = null);

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

/// <summary>
/// A page of <c>GET /v1/generations</c>: the caller's jobs, newest first. <paramref name="NextCursor"/> continues the
/// listing (null at its end); a page that a status filter thinned may be short, or empty, and still have one.
/// </summary>
public sealed record GenerationListResponse(IReadOnlyList<GenerationResponse> Data, bool HasMore, string? NextCursor);
