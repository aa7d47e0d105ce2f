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
/// A served model. <see cref="Img2Img"/>: it takes init images and masks (it has a VAE encoder); <see cref="Inpainting"/>:
/// its UNet is a 9-channel inpainting UNet; <see cref="Lcm"/>: its UNet takes an LCM guidance embedding.
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
    [property: Id(22)] bool Lcm = false);

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
