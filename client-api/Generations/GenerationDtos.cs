namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// The body of <c>POST /v1/generations</c> (snake_case JSON). Only <c>prompt</c> is required; <c>width</c>,
/// <c>height</c>, <c>steps</c> and <c>guidance_scale</c> default to the model's own (<c>GET /v1/models</c>).
/// <c>mask</c> (base64 or a data URL, as <c>init_image</c>, and of its size) inpaints <c>init_image</c>: white repaints,
/// black keeps, as in AUTOMATIC1111; <c>mask_blur</c> (pixels, default 4) softens its edge.
/// <c>original_size</c> and <c>target_size</c> (<c>[height, width]</c>) and <c>crops_coords_top_left</c>
/// (<c>[top, left]</c>) are SDXL's size conditioning, in diffusers' order and with its defaults. <c>webhook</c> is a URL
/// the cluster posts the job's <c>webhook_events</c> to (default: the outcomes), signed as Standard Webhooks do.
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
    string? Webhook = null,
    string[]? WebhookEvents = null);
