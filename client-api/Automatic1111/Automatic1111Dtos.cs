using System.Text.Json;
using System.Text.Json.Serialization;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// The body of <c>txt2img</c> and <c>img2img</c> (img2img adds <c>init_images</c>, <c>include_init_images</c> and the
/// inpainting fields: <c>mask</c>, <c>mask_blur</c> (or <c>mask_blur_x</c>/<c>_y</c>), <c>inpainting_mask_invert</c>,
/// <c>inpainting_fill</c>, <c>inpaint_full_res</c>, <c>inpaint_full_res_padding</c>, all acted on); txt2img acts on the
/// hires fix (<c>enable_hr</c> and its <c>hr_*</c> fields with a latent upscaler). Fields A1111 accepts but this server
/// does not act on (face restoration, tiling, subseeds, styles, scripts) are accepted and echoed; unknown keys (SillyTavern's <c>url</c> and <c>auth</c>) are ignored and never echoed.
/// </summary>
public sealed record Automatic1111Request
{
    public string? Prompt { get; init; }

    public string? NegativePrompt { get; init; }

    public IReadOnlyList<string>? Styles { get; init; }

    public long? Seed { get; init; }

    public long? Subseed { get; init; }

    public double? SubseedStrength { get; init; }

    public string? SamplerName { get; init; }

    public string? SamplerIndex { get; init; }

    public string? Scheduler { get; init; }

    public int? BatchSize { get; init; }

    public int? NIter { get; init; }

    public int? Steps { get; init; }

    public double? CfgScale { get; init; }

    public int? Width { get; init; }

    public int? Height { get; init; }

    public double? DenoisingStrength { get; init; }

    public bool? RestoreFaces { get; init; }

    public bool? Tiling { get; init; }

    /// <summary>Hires fix: a second pass at a larger size, with the fields below and <see cref="DenoisingStrength"/>.</summary>
    public bool? EnableHr { get; init; }

    /// <summary>Hires fix: the enlargement when neither resize side is set (A1111: 2).</summary>
    public double? HrScale { get; init; }

    /// <summary>Hires fix: a latent upscaler by name ("Latent", "Latent (nearest)", ...; A1111: "Latent"); others are refused.</summary>
    public string? HrUpscaler { get; init; }

    /// <summary>Hires fix: the second pass's steps; 0 (A1111's default) runs as many as the first pass.</summary>
    public int? HrSecondPassSteps { get; init; }

    /// <summary>Hires fix: target width instead of the scale; 0 follows the ratio.</summary>
    public int? HrResizeX { get; init; }

    /// <summary>Hires fix: target height instead of the scale; 0 follows the ratio.</summary>
    public int? HrResizeY { get; init; }

    public Dictionary<string, JsonElement>? OverrideSettings { get; init; }

    public bool? OverrideSettingsRestoreAfterwards { get; init; }

    public bool? SendImages { get; init; }

    public bool? SaveImages { get; init; }

    public IReadOnlyList<string>? InitImages { get; init; }

    public string? Mask { get; init; }

    public bool? IncludeInitImages { get; init; }

    /// <summary>Blur of the mask's edge in pixels, across and down (A1111: 4); sets both of the two below.</summary>
    public int? MaskBlur { get; init; }

    public int? MaskBlurX { get; init; }

    public int? MaskBlurY { get; init; }

    /// <summary>0 repaints the white of the mask (the default), 1 the black.</summary>
    public int? InpaintingMaskInvert { get; init; }

    /// <summary>What the masked area starts from: 0 fill (the default), 1 original, 2 latent noise, 3 latent nothing.</summary>
    public int? InpaintingFill { get; init; }

    /// <summary>"Only masked": render the box around the mask at the full size (A1111's API default: true).</summary>
    public bool? InpaintFullRes { get; init; }

    /// <summary>Pixels of context around the mask's box with <see cref="InpaintFullRes"/> (A1111's API default: 0).</summary>
    public int? InpaintFullResPadding { get; init; }
}

/// <summary><c>{"images": [base64 PNG], "parameters": {...}, "info": "&lt;JSON string&gt;"}</c>.</summary>
public sealed record Automatic1111Response(IReadOnlyList<string> Images, Automatic1111Request Parameters, string Info);

/// <summary>What the <c>info</c> string holds, as A1111 names it.</summary>
public sealed record Automatic1111Info(
    string Prompt,
    IReadOnlyList<string> AllPrompts,
    string NegativePrompt,
    IReadOnlyList<string> AllNegativePrompts,
    long Seed,
    IReadOnlyList<long> AllSeeds,
    long Subseed,
    IReadOnlyList<long> AllSubseeds,
    double SubseedStrength,
    int Width,
    int Height,
    string SamplerName,
    string Scheduler,
    double CfgScale,
    int Steps,
    int BatchSize,
    bool RestoreFaces,
    string SdModelName,
    string SdModelHash,
    double? DenoisingStrength,
    string JobTimestamp,
    IReadOnlyList<string> Infotexts,
    int ClipSkip,
    bool Interrupted,
    string Version);

/// <summary><c>GET /sdapi/v1/progress</c>.</summary>
public sealed record Automatic1111Progress(
    double Progress,
    double EtaRelative,
    Automatic1111ProgressState State,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? CurrentImage,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Textinfo);

public sealed record Automatic1111ProgressState(
    bool Skipped,
    bool Interrupted,
    string Job,
    int JobCount,
    string JobTimestamp,
    int JobNo,
    int SamplingStep,
    int SamplingSteps);

/// <summary>A1111's error body: <c>{"error", "detail", "body", "errors"}</c>.</summary>
public sealed record Automatic1111Error(string Error, string Detail, string Body, string Errors);

public sealed record Automatic1111Model(
    string Title,
    string ModelName,
    string Hash,
    string Sha256,
    string Filename,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Config);

public sealed record Automatic1111Sampler(string Name, IReadOnlyList<string> Aliases, IReadOnlyDictionary<string, string> Options);

public sealed record Automatic1111Scheduler(
    string Name,
    string Label,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] IReadOnlyList<string>? Aliases,
    double DefaultRho,
    bool NeedInnerModel);

public sealed record Automatic1111Upscaler(
    string Name,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? ModelName,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? ModelPath,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? ModelUrl,
    double Scale);

public sealed record Automatic1111Named(string Name);

public sealed record Automatic1111Vae(string ModelName, string Filename);
