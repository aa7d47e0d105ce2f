namespace OrleansDiffusion.DemoModel;

/// <summary>What <see cref="DemoModelWriter"/> writes.</summary>
public sealed record DemoModelOptions
{
    /// <summary>The seed of the pseudo-random weights when <see cref="Seed"/> is not set.</summary>
    public const int DefaultSeed = 1_515;

    /// <summary>The exporter whose signatures the models imitate. Default: <see cref="DemoModelFlavor.Optimum"/>.</summary>
    public DemoModelFlavor Flavor { get; init; } = DemoModelFlavor.Optimum;

    /// <summary>
    /// The model family to imitate. Default: <see cref="DemoModelFamily.StableDiffusion"/>. SDXL families take every
    /// flavour but <see cref="DemoModelFlavor.Diffusers"/> (the diffusers script does not export SDXL).
    /// </summary>
    public DemoModelFamily Family { get; init; } = DemoModelFamily.StableDiffusion;

    /// <summary>
    /// Width of the text embeddings (<c>encoder_hidden_states</c>). Default: 768 (SD 1.x); 1024 is SD 2.x-shaped. SDXL
    /// families have fixed tiny widths and ignore it.
    /// </summary>
    public int HiddenSize { get; init; } = 768;

    /// <summary>
    /// Extra depthwise 3x3 convolutions per UNet call whose result is multiplied by zero: the output does not change,
    /// only the time a call takes (for tests of a slow model). Default: 0.
    /// </summary>
    public int UNetExtraConvLayers { get; init; }

    /// <summary>
    /// Layers of the text encoder. With 1 or more it is built as CLIP's is (embeddings, residual layers, a final layer
    /// norm) and also outputs <c>hidden_states.0</c> (the embeddings) to <c>hidden_states.N</c> (the last layer, before
    /// the norm), as optimum's exports with hidden states do, so that CLIP skip can run on it. Default: 0, one
    /// <c>Tanh</c> layer and no hidden-state outputs, as optimum's SD 1.x exports. SDXL families always have hidden
    /// states: the first encoder has this many layers (2 when 0), the second one more.
    /// </summary>
    public int TextEncoderLayers { get; init; }

    /// <summary>Seed of the pseudo-random weights. Default: null, meaning <see cref="DefaultSeed"/>.</summary>
    public int? Seed { get; init; }

    /// <summary>The width of the guidance embedding LCM distillation gives a UNet (diffusers' <c>time_cond_proj_dim</c>).</summary>
    public const int LcmGuidanceEmbeddingSize = 256;

    /// <summary>
    /// Width of the guidance embedding the UNet takes as <c>timestep_cond</c>, as an LCM-distilled UNet does
    /// (<see cref="LcmGuidanceEmbeddingSize"/>); the folder then carries an <c>LCMScheduler</c> configuration. The UNet
    /// reads the guidance scale back from the embedding and applies it as classifier-free guidance against the empty
    /// prompt would, so an LCM run without the unconditional pass computes what a guided run of the plain UNet computes.
    /// Default: 0, a UNet without <c>timestep_cond</c>.
    /// </summary>
    public int GuidanceEmbeddingSize { get; init; }

    /// <summary>
    /// Write a 9-channel inpainting UNet (<c>sample</c> is latents, mask and masked-image latents, in that order, as the
    /// SD inpainting exports take them): it keeps the latents where the mask is 0 and paints the rest around the mean
    /// colour of what it keeps. Default: false.
    /// </summary>
    public bool Inpainting { get; init; }

    /// <summary>
    /// The networks to write. Default: <see cref="DemoModelArchitecture.Tiny"/>. The full-size architectures take the
    /// family from the architecture, the flavour's signatures and a seed; the tiny model's other options (hidden size,
    /// text encoder layers, LCM, inpainting, extra conv layers) do not apply to them.
    /// </summary>
    public DemoModelArchitecture Architecture { get; init; } = DemoModelArchitecture.Tiny;

    /// <summary>
    /// Full-size architectures: every width divided by this, 1 (the default, the published model), 2, 4 or 8; blocks,
    /// layers and heads kept, so that tests run the real block structure on a model small enough for CI.
    /// </summary>
    public int WidthDivisor { get; init; } = 1;
}
