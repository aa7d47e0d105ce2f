using System.Globalization;
using System.Text.Json.Nodes;
using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// Writes a full-size SD 1.5 or SDXL base folder: the published networks, block for block, with deterministic generated
/// weights streamed to external data files (<c>model.onnx</c> + <c>model.onnx_data</c>; Olive's <c>model.onnx.data</c>,
/// the diffusers script's <c>weights.pb</c>), float32 or float16 as the flavour computes. It loads and runs as the real
/// export does, at the real cost, but it was never trained: it is not a picture generator, and every file says so.
/// </summary>
public static class FullSizeModelWriter
{
    /// <summary>Writes the folder for <paramref name="options"/> (a full-size <see cref="DemoModelOptions.Architecture"/>).</summary>
    /// <returns>Each network written, with its parameter count and size on disk.</returns>
    public static IReadOnlyList<FullSizeComponent> Write(string directory, DemoModelOptions options) => Write(directory, options, writeWeights: true);

    /// <param name="directory">The folder.</param>
    /// <param name="options">What to write.</param>
    /// <param name="writeWeights">
    /// False: the graphs and the weight files' layout only, each weight file sized but not written (sparse): the same
    /// structure and parameter counts in a fraction of a second, for tests.
    /// </param>
    internal static IReadOnlyList<FullSizeComponent> Write(string directory, DemoModelOptions options, bool writeWeights)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Validate(options);
        var xl = options.Architecture == DemoModelArchitecture.StableDiffusionXL;
        var signature = xl ? DemoModelSignature.ForXL(options.Flavor) : DemoModelSignature.For(options.Flavor);
        var divisor = options.WidthDivisor;
        var unet = (xl ? UNetConfig.StableDiffusionXL : UNetConfig.StableDiffusion15).Narrowed(divisor);
        var clip = ClipTextConfig.ClipL.Narrowed(divisor);
        var clip2 = ClipTextConfig.OpenClipBigG.Narrowed(divisor);
        var vae = VaeConfig.StableDiffusion.Narrowed(divisor);
        var notice = Notice(options.Architecture);

        string Folder(string name) => Directory.CreateDirectory(Path.Combine(directory, name)).FullName;
        Directory.CreateDirectory(directory);
        var components = new List<FullSizeComponent>();
        void Network(string component, Action<LayerBuilder> build)
        {
            var folder = Folder(component);
            components.Add(WriteGraph(folder, component, options.Flavor, signature, options.Seed ?? DemoModelOptions.DefaultSeed, writeWeights, notice, build));
        }

        if (xl)
        {
            DemoModelFiles.WriteXLIndex(directory, options.Flavor, DemoModelFamily.StableDiffusionXL, notice);
            DemoModelFiles.WriteXLScheduler(Folder("scheduler"), DemoModelFamily.StableDiffusionXL);
        }
        else
        {
            DemoModelFiles.WriteIndex(directory, options, notice);
            DemoModelFiles.WriteScheduler(Folder("scheduler"), lcm: false);
        }

        foreach (var (tokenizer, pad) in xl ? new[] { ("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!") } : [("tokenizer", "<|endoftext|>")])
        {
            var folder = Folder(tokenizer);
            ClipVocabularyFiles.WriteTo(folder);
            DemoModelFiles.WriteTokenizerConfiguration(folder, pad);
        }

        Network("text_encoder", b => ClipTextModel.Build(b, clip, signature, signature.InputIds));
        if (xl)
        {
            Network("text_encoder_2", b => ClipTextModel.Build(b, clip2, signature, signature.InputIds2));
        }

        Network("unet", b => UNetModel.Build(b, unet, signature));
        Network("vae_decoder", b => VaeModel.BuildDecoder(b, vae, signature));
        Network("vae_encoder", b => VaeModel.BuildEncoder(b, vae, signature));

        WriteConfigs(directory, xl, signature, unet, clip, clip2, vae, notice);
        DemoModelFiles.WriteText(Path.Combine(directory, "README.md"), Readme(options, components, notice));
        return components;
    }

    /// <summary>What <c>model_index.json</c> (<c>_demo_model</c>), every config and every graph's doc string say.</summary>
    public static string Notice(DemoModelArchitecture architecture) => architecture switch
    {
        DemoModelArchitecture.StableDiffusion15 => "OrleansDiffusion full-size SD 1.5 architecture with generated weights - NOT a picture generator",
        DemoModelArchitecture.StableDiffusionXL => "OrleansDiffusion full-size SDXL base architecture with generated weights - NOT a picture generator",
        _ => DemoModelWriter.DemoModelNotice,
    };

    private static void Validate(DemoModelOptions options)
    {
        if (options.Architecture == DemoModelArchitecture.Tiny)
        {
            throw new ArgumentException("The tiny architecture is written by DemoModelWriter.Write.", nameof(options));
        }

        var family = options.Architecture == DemoModelArchitecture.StableDiffusionXL ? DemoModelFamily.StableDiffusionXL : DemoModelFamily.StableDiffusion;
        if (options.Family != family && options.Family != DemoModelFamily.StableDiffusion)
        {
            throw new ArgumentException($"The {options.Architecture} architecture is of its own family; {options.Family} does not apply.", nameof(options));
        }

        if (options.Inpainting || options.GuidanceEmbeddingSize > 0 || options.TextEncoderLayers > 0 || options.UNetExtraConvLayers > 0 || options.HiddenSize != new DemoModelOptions().HiddenSize)
        {
            throw new ArgumentException("The full-size architectures are the published base models: inpainting, LCM, text encoder layers, extra conv layers and hidden size are options of the tiny model only.", nameof(options));
        }

        if (options.WidthDivisor is < 1 or > 8 || 8 % options.WidthDivisor != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.WidthDivisor, "WidthDivisor is 1, 2, 4 or 8 (the group and head counts must still divide the widths).");
        }
    }

    private static FullSizeComponent WriteGraph(string folder, string component, DemoModelFlavor flavor, DemoModelSignature signature, int seed, bool writeWeights, string notice, Action<LayerBuilder> build)
    {
        var dataName = ExternalDataFile(flavor);
        var graph = new OnnxGraphBuilder(component);
        long parameters, length;
        using (var weights = new WeightFile(Path.Combine(folder, dataName), signature.Float == DataType.Float16 ? DataType.Float16 : DataType.Float, seed, writeWeights))
        {
            build(new LayerBuilder(graph, weights));
            parameters = weights.Parameters;
            length = weights.Length;
        }

        var model = Path.Combine(folder, "model.onnx");
        graph.Save(model, notice);
        return new FullSizeComponent(component, parameters, length + new FileInfo(model).Length);
    }

    /// <summary>The external data file optimum writes beside a model over 2 GB (here: beside every full-size graph).</summary>
    public const string OptimumExternalData = "model.onnx_data";

    /// <summary>The external data file of the diffusers conversion script (<c>location="weights.pb"</c>).</summary>
    public const string DiffusersExternalData = "weights.pb";

    /// <summary>
    /// Where <paramref name="flavor"/>'s exporter keeps a graph's weights: optimum's <c>model.onnx_data</c>, Olive's
    /// <c>model.onnx.data</c>, the diffusers script's <c>weights.pb</c>.
    /// </summary>
    public static string ExternalDataFile(DemoModelFlavor flavor) => flavor switch
    {
        DemoModelFlavor.Olive or DemoModelFlavor.OliveFp16 => DemoModelSignature.OliveExternalData,
        DemoModelFlavor.Diffusers => DiffusersExternalData,
        _ => OptimumExternalData,
    };

    private static void WriteConfigs(string root, bool xl, DemoModelSignature signature, UNetConfig unet, ClipTextConfig clip, ClipTextConfig clip2, VaeConfig vae, string notice)
    {
        JsonObject TextEncoder(ClipTextConfig config) => new()
        {
            ["_demo_model"] = notice,
            ["_name_or_path"] = DemoModelFiles.ModelName,
            ["architectures"] = new JsonArray(config.ProjectionDim > 0 ? "CLIPTextModelWithProjection" : "CLIPTextModel"),
            ["bos_token_id"] = DemoModelWeights.BosTokenId,
            ["eos_token_id"] = DemoModelWeights.EosTokenId,
            ["hidden_act"] = config.QuickGelu ? "quick_gelu" : "gelu",
            ["hidden_size"] = config.HiddenSize,
            ["intermediate_size"] = config.IntermediateSize,
            ["layer_norm_eps"] = 1e-5,
            ["max_position_embeddings"] = ClipTextConfig.MaxPositions,
            ["model_type"] = "clip_text_model",
            ["num_attention_heads"] = config.Heads,
            ["num_hidden_layers"] = config.Layers,
            ["pad_token_id"] = 1,
            ["projection_dim"] = config.ProjectionDim > 0 ? config.ProjectionDim : config.HiddenSize,
            ["torch_dtype"] = signature.Float == DataType.Float16 ? "float16" : "float32",
            ["vocab_size"] = ClipTextConfig.VocabularySize,
        };

        DemoModelFiles.WriteJson(Path.Combine(root, "text_encoder", "config.json"), TextEncoder(clip));
        if (xl)
        {
            DemoModelFiles.WriteJson(Path.Combine(root, "text_encoder_2", "config.json"), TextEncoder(clip2));
        }

        JsonArray Blocks(string plain, string crossAttention, bool up) =>
            [.. (up ? unet.CrossAttention.Reverse() : unet.CrossAttention).Select(a => (JsonNode)(a ? crossAttention : plain))];
        JsonArray Numbers(IEnumerable<int> values) => [.. values.Select(v => (JsonNode)v)];
        var unetConfig = new JsonObject
        {
            ["_class_name"] = "UNet2DConditionModel",
            ["_demo_model"] = notice,
            ["act_fn"] = "silu",
            ["addition_embed_type"] = xl ? "text_time" : null,
            ["addition_time_embed_dim"] = xl ? unet.AdditionTimeEmbedDim : null,
            ["attention_head_dim"] = xl ? Numbers(unet.Heads) : unet.Heads[0],
            ["block_out_channels"] = Numbers(unet.BlockOutChannels),
            ["cross_attention_dim"] = unet.CrossAttentionDim,
            ["down_block_types"] = Blocks("DownBlock2D", "CrossAttnDownBlock2D", up: false),
            ["flip_sin_to_cos"] = true,
            ["freq_shift"] = 0,
            ["in_channels"] = UNetConfig.LatentChannels,
            ["layers_per_block"] = UNetConfig.LayersPerBlock,
            ["norm_eps"] = 1e-5,
            ["norm_num_groups"] = unet.Groups,
            ["out_channels"] = UNetConfig.LatentChannels,
            ["projection_class_embeddings_input_dim"] = xl ? unet.ProjectionClassEmbeddingsInputDim : null,
            ["sample_size"] = unet.SampleSize,
            ["transformer_layers_per_block"] = xl ? Numbers(unet.TransformerLayers) : 1,
            ["up_block_types"] = Blocks("UpBlock2D", "CrossAttnUpBlock2D", up: true),
            ["use_linear_projection"] = unet.LinearProjection,
        };
        DemoModelFiles.WriteJson(Path.Combine(root, "unet", "config.json"), unetConfig);

        foreach (var component in new[] { "vae_decoder", "vae_encoder" })
        {
            DemoModelFiles.WriteJson(Path.Combine(root, component, "config.json"), new JsonObject
            {
                ["_class_name"] = "AutoencoderKL",
                ["_demo_model"] = notice,
                ["act_fn"] = "silu",
                ["block_out_channels"] = Numbers(vae.BlockOutChannels),
                ["force_upcast"] = signature.VaeForceUpcast,
                ["in_channels"] = 3,
                ["latent_channels"] = VaeConfig.LatentChannels,
                ["layers_per_block"] = VaeConfig.LayersPerBlock,
                ["norm_num_groups"] = vae.Groups,
                ["out_channels"] = 3,
                ["sample_size"] = unet.SampleSize * 8,
                ["scaling_factor"] = xl ? (double)(decimal)XL.XLWeights.VaeScalingFactor : (double)(decimal)DemoModelWeights.VaeScalingFactor,
            });
        }
    }

    private static string Readme(DemoModelOptions options, IReadOnlyList<FullSizeComponent> components, string notice)
    {
        var name = options.Architecture == DemoModelArchitecture.StableDiffusionXL ? "SDXL base 1.0" : "Stable Diffusion 1.5";
        var lines = string.Join("\n", components.Select(c => string.Create(CultureInfo.InvariantCulture,
            $"| `{c.Name}` | {c.Parameters:N0} | {c.Bytes / (1024.0 * 1024):N1} MiB |")));
        var narrowed = options.WidthDivisor == 1 ? string.Empty : $"\nEvery width is divided by {options.WidthDivisor} (a test variant): the parameter counts are not the published ones.\n";
        return $"""
            # {notice}

            This folder was generated by OrleansDiffusion's `DemoModelWriter` (`--architecture {(options.Architecture == DemoModelArchitecture.StableDiffusionXL ? "sdxl" : "sd15")}`,
            flavour `{DemoModelWriter.FlavorName(options.Flavor)}`). Its networks are those of {name}, block for block:
            the same layers, channel counts, attention heads and parameter counts as the published configs, exported with
            the input and output names, element types and external data files of the flavour's exporter. Their weights are
            deterministic pseudo-random numbers (seed {options.Seed ?? DemoModelOptions.DefaultSeed}), scaled so that a generation stays finite.

            **It is not a picture generator.** It was never trained: it loads, runs and costs what {name} costs (time,
            memory, disk), and it turns noise into noise. It exists to measure and test the service at real model sizes.
            For pictures, point the service at a real {name} ONNX export instead.
            {narrowed}
            | network | parameters | on disk |
            |---|---:|---:|
            {lines}

            """;
    }
}
