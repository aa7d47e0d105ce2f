namespace OrleansDiffusion.Contracts;

/// <summary>
/// What the cluster serves, answered by any silo (a stateless worker): the configured models and CLIP tokenization
/// with a model's own tokenizer, so that an API process that only is a cluster client needs no model files.
/// </summary>
[Alias("od.IModelInfoGrain")]
public interface IModelInfoGrain : IGrainWithIntegerKey
{
    [Alias("GetModels")]
    Task<IReadOnlyList<ModelInfo>> GetModels();

    /// <summary>
    /// Tokenizes a prompt with the model's tokenizer, as written into one 77-token sequence and as the engine encodes
    /// it (AUTOMATIC1111's chunks with their weights); an empty model id means the default model.
    /// </summary>
    [Alias("Tokenize")]
    Task<TokenizeResult> Tokenize(string model, string prompt);
}

/// <summary>
/// A served model: what it is, what a request gets when it names nothing, and what it can do. <see cref="Img2Img"/>:
/// it takes init images and masks (it has a VAE encoder); <see cref="Inpainting"/>: its UNet is a 9-channel inpainting
/// UNet; <see cref="Lcm"/>: its UNet takes an LCM guidance embedding.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.ModelInfo")]
public sealed record ModelInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] bool IsDefault,
    [property: Id(2)] bool IsDemo,
    [property: Id(3)] string Hash,
    [property: Id(4)] string DefaultScheduler,
    [property: Id(20)] bool Img2Img = false,
    [property: Id(21)] bool Inpainting = false,
    [property: Id(22)] bool Lcm = false)
{
    /// <summary><c>sd1</c>, <c>sd2</c>, <c>sdxl</c> or <c>sdxl-turbo</c>.</summary>
    [Id(5)] public string Family { get; init; } = string.Empty;

    /// <summary>The size, steps and guidance a request gets when it names none.</summary>
    [Id(6)] public ModelDefaults Defaults { get; init; } = new(512, 512, 20, 7.5f);

    /// <summary>The sizes the model can generate.</summary>
    [Id(7)] public ModelSizes Sizes { get; init; } = new(8, 64, 1024, 1024 * 1024);

    /// <summary>What a request may ask of it.</summary>
    [Id(8)] public ModelSupport Supports { get; init; } = new(1, true, true, false, false);

    /// <summary>A demo model's own words on what it is (<c>_demo_model</c>), e.g. that it is not a picture generator; null otherwise.</summary>
    [Id(23)] public string? DemoNotice { get; init; }
}

/// <summary>What a request that names none gets: the model's own size (its UNet config), steps and guidance.</summary>
[GenerateSerializer, Immutable, Alias("od.ModelDefaults")]
public sealed record ModelDefaults(
    [property: Id(0)] int Width,
    [property: Id(1)] int Height,
    [property: Id(2)] int Steps,
    [property: Id(3)] float GuidanceScale);

/// <summary>The sizes a model can generate: sides a multiple of <see cref="Multiple"/>, within the bounds.</summary>
[GenerateSerializer, Immutable, Alias("od.ModelSizes")]
public sealed record ModelSizes(
    [property: Id(0)] int Multiple,
    [property: Id(1)] int MinSide,
    [property: Id(2)] int MaxSide,
    [property: Id(3)] int MaxPixels);

/// <summary>
/// What a model takes: CLIP skip up to <see cref="MaxClipSkip"/> (1: none), a negative prompt (not with a UNet that
/// takes the guidance as an embedding and runs no unconditional pass), classifier-free guidance, img2img (a VAE
/// encoder), SDXL's size conditioning.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.ModelSupport")]
public sealed record ModelSupport(
    [property: Id(0)] int MaxClipSkip,
    [property: Id(1)] bool NegativePrompt,
    [property: Id(2)] bool Guidance,
    [property: Id(3)] bool Img2Img,
    [property: Id(4)] bool SizeConditioning);

[GenerateSerializer, Immutable, Alias("od.TokenizeResult")]
public sealed record TokenizeResult(
    [property: Id(0)] string Model,
    [property: Id(1)] IReadOnlyList<int> Ids,
    [property: Id(2)] IReadOnlyList<string> Tokens,
    [property: Id(3)] int ContentTokens,
    [property: Id(4)] int MaxContentTokens,
    [property: Id(5)] bool Truncated,
    [property: Id(6)] IReadOnlyList<TokenizedChunk> Chunks,
    [property: Id(7)] int TokenCount);

/// <summary>One 77-token chunk as AUTOMATIC1111 computes it: its ids and each id's attention weight.</summary>
[GenerateSerializer, Immutable, Alias("od.TokenizedChunk")]
public sealed record TokenizedChunk(
    [property: Id(0)] IReadOnlyList<int> Ids,
    [property: Id(1)] IReadOnlyList<double> Weights);
