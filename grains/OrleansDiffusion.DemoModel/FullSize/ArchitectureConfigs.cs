namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> config, the fields that shape the graph: SD 1.5
/// (<c>runwayml/stable-diffusion-v1-5</c>) and SDXL base (<c>stabilityai/stable-diffusion-xl-base-1.0</c>).
/// </summary>
/// <param name="BlockOutChannels"><c>block_out_channels</c>.</param>
/// <param name="CrossAttention">Which down blocks are <c>CrossAttnDownBlock2D</c> (the up blocks mirror them).</param>
/// <param name="TransformerLayers"><c>transformer_layers_per_block</c>, per down block; the mid block takes the last.</param>
/// <param name="Heads">Attention heads per block (SD 1.5's <c>attention_head_dim</c> 8 is its head count).</param>
/// <param name="LinearProjection"><c>use_linear_projection</c>: the transformers' proj_in/out are Linear, else 1x1 Conv.</param>
/// <param name="CrossAttentionDim"><c>cross_attention_dim</c>: the width of <c>encoder_hidden_states</c>.</param>
/// <param name="AdditionTimeEmbedDim">SDXL's <c>addition_time_embed_dim</c> (<c>text_time</c>); 0 for none.</param>
/// <param name="PooledTextDim">SDXL: the width of <c>text_embeds</c>; 0 for none.</param>
/// <param name="Groups"><c>norm_num_groups</c>.</param>
/// <param name="SampleSize"><c>sample_size</c>: the default latent side.</param>
internal sealed record UNetConfig(
    int[] BlockOutChannels,
    bool[] CrossAttention,
    int[] TransformerLayers,
    int[] Heads,
    bool LinearProjection,
    int CrossAttentionDim,
    int AdditionTimeEmbedDim,
    int PooledTextDim,
    int Groups,
    int SampleSize)
{
    public const int LayersPerBlock = 2;
    public const int LatentChannels = 4;

    /// <summary>The time embedding's width: 4 x the first block's channels.</summary>
    public int TimeEmbedDim => BlockOutChannels[0] * 4;

    /// <summary>SDXL's <c>projection_class_embeddings_input_dim</c>: <c>text_embeds</c> and the 6 embedded <c>time_ids</c>.</summary>
    public int ProjectionClassEmbeddingsInputDim => PooledTextDim + (6 * AdditionTimeEmbedDim);

    public static UNetConfig StableDiffusion15 { get; } = new(
        [320, 640, 1280, 1280], [true, true, true, false], [1, 1, 1, 1], [8, 8, 8, 8], false, 768, 0, 0, 32, 64);

    public static UNetConfig StableDiffusionXL { get; } = new(
        [320, 640, 1280], [false, true, true], [1, 2, 10], [5, 10, 20], true, 2048, 256, 1280, 32, 128);

    /// <summary>
    /// Every width divided by <paramref name="divisor"/> (and the group count with it), the blocks, layers and heads
    /// kept: the same graph structure, small enough to run in a test.
    /// </summary>
    public UNetConfig Narrowed(int divisor) => divisor == 1 ? this : this with
    {
        BlockOutChannels = [.. BlockOutChannels.Select(c => c / divisor)],
        CrossAttentionDim = CrossAttentionDim / divisor,
        AdditionTimeEmbedDim = AdditionTimeEmbedDim / divisor,
        PooledTextDim = PooledTextDim / divisor,
        Groups = Groups / divisor,
    };
}

/// <summary>transformers' <c>CLIPTextConfig</c>: CLIP ViT-L/14's text model (SD 1.5, SDXL's first) or OpenCLIP ViT-bigG's.</summary>
/// <param name="HiddenSize"><c>hidden_size</c>.</param>
/// <param name="IntermediateSize"><c>intermediate_size</c>.</param>
/// <param name="Layers"><c>num_hidden_layers</c>.</param>
/// <param name="Heads"><c>num_attention_heads</c>.</param>
/// <param name="QuickGelu"><c>hidden_act</c>: <c>quick_gelu</c> (CLIP-L) or <c>gelu</c> (bigG).</param>
/// <param name="ProjectionDim">CLIPTextModelWithProjection's <c>projection_dim</c>; 0 for a CLIPTextModel.</param>
internal sealed record ClipTextConfig(int HiddenSize, int IntermediateSize, int Layers, int Heads, bool QuickGelu, int ProjectionDim)
{
    public const int VocabularySize = 49408;
    public const int MaxPositions = 77;

    public static ClipTextConfig ClipL { get; } = new(768, 3072, 12, 12, true, 0);

    public static ClipTextConfig OpenClipBigG { get; } = new(1280, 5120, 32, 20, false, 1280);

    public ClipTextConfig Narrowed(int divisor) => divisor == 1 ? this : this with
    {
        HiddenSize = HiddenSize / divisor,
        IntermediateSize = IntermediateSize / divisor,
        ProjectionDim = ProjectionDim / divisor,
    };
}

/// <summary>diffusers' <c>AutoencoderKL</c> config; SD 1.5's and SDXL's VAEs have the same architecture.</summary>
internal sealed record VaeConfig(int[] BlockOutChannels, int Groups)
{
    public const int LayersPerBlock = 2;
    public const int LatentChannels = 4;

    public static VaeConfig StableDiffusion { get; } = new([128, 256, 512, 512], 32);

    public VaeConfig Narrowed(int divisor) => divisor == 1 ? this : new([.. BlockOutChannels.Select(c => c / divisor)], Groups / divisor);
}
