namespace OrleansDiffusion.Contracts;

/// <summary>
/// What a client asks the cluster to generate. The seed is resolved (never random) before a spec is submitted,
/// so that a spec describes exactly one result. An img2img init image and an inpainting mask travel as the keys of
/// their stored bytes.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.GenerationSpec")]
public sealed record GenerationSpec
{
    /// <summary>The model id; empty means the cluster's default model.</summary>
    [Id(0)] public string Model { get; init; } = string.Empty;

    [Id(1)] public string Prompt { get; init; } = string.Empty;

    [Id(2)] public string NegativePrompt { get; init; } = string.Empty;

    [Id(3)] public int Steps { get; init; } = 20;

    [Id(4)] public float GuidanceScale { get; init; } = 7.5f;

    /// <summary>The seed of image 0; image i uses Seed + i.</summary>
    [Id(5)] public long Seed { get; init; }

    [Id(6)] public int Width { get; init; } = 512;

    [Id(7)] public int Height { get; init; } = 512;

    /// <summary>A scheduler name (<c>euler_a</c>, <c>dpmpp_2m_karras</c>, ...); empty means the model's own.</summary>
    [Id(8)] public string Scheduler { get; init; } = string.Empty;

    [Id(9)] public int ImageCount { get; init; } = 1;

    /// <summary>img2img: the content key of the init image in the image store (see <c>IImageStore.SaveInputAsync</c>).</summary>
    [Id(10)] public string? InitImageKey { get; init; }

    [Id(11)] public float Strength { get; init; } = 0.75f;

    /// <summary>CLIP skip as AUTOMATIC1111 counts it (<c>CLIP_stop_at_last_layers</c>): 1 uses the last layer, 2 the one before.</summary>
    [Id(12)] public int ClipSkip { get; init; } = 1;

    /// <summary>
    /// Inpainting: the content key of the normalised mask in the image store (the API decodes, fits and blurs the upload
    /// once; see <c>NormalizedMask</c>). Needs <see cref="InitImageKey"/>.
    /// </summary>
    [Id(20)] public string? MaskKey { get; init; }

    /// <summary>Inpainting: what the masked area starts from: <c>fill</c>, <c>original</c>, <c>latent_noise</c> or <c>latent_nothing</c>.</summary>
    [Id(21)] public string InpaintFill { get; init; } = "original";

    /// <summary>Inpainting: render only the box around the mask at the full size (A1111's <c>inpaint_full_res</c>).</summary>
    [Id(22)] public bool InpaintOnlyMasked { get; init; }

    /// <summary>Inpainting with <see cref="InpaintOnlyMasked"/>: pixels of context around the mask's box.</summary>
    [Id(23)] public int InpaintPadding { get; init; }

    // SDXL's size conditioning (its UNet's time_ids). Null: diffusers' default, filled in by the cluster for an SDXL model
    // (both sizes the generated one, no crop); an SD model refuses any.

    /// <summary>SDXL: the size the training image had, <c>original_size</c>.</summary>
    [Id(24)] public PixelSize? OriginalSize { get; init; }

    /// <summary>SDXL: the top-left corner of the training crop, <c>crops_coords_top_left</c>.</summary>
    [Id(25)] public CropOrigin? CropsCoordsTopLeft { get; init; }

    /// <summary>SDXL: the size the picture should look made for, <c>target_size</c>.</summary>
    [Id(26)] public PixelSize? TargetSize { get; init; }

    /// <summary>
    /// txt2img: AUTOMATIC1111's hires fix, a second pass at a larger size; null for none. <see cref="Width"/> and
    /// <see cref="Height"/> stay the first pass's.
    /// </summary>
    [Id(30)] public HiresSpec? Hires { get; init; }

    /// <summary>The steps of the whole job: <see cref="Steps"/>, plus a hires fix's second pass.</summary>
    public int StepsWithHires() => Steps + (Hires?.StepsAfter(Steps) ?? 0);
}
