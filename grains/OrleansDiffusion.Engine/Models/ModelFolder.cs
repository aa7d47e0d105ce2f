using System.Globalization;
using System.Text.Json;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// A diffusers/optimum/Olive ONNX export folder, checked without loading any graph: <c>model_index.json</c>,
/// <c>scheduler/scheduler_config.json</c>, <c>tokenizer/</c>, <c>text_encoder/</c>, <c>unet/</c>, <c>vae_decoder/</c>
/// and, for img2img, <c>vae_encoder/</c>; an SDXL export adds <c>tokenizer_2/</c> and <c>text_encoder_2/</c>. What
/// the folder is (its <see cref="Family"/>), the sizes it can generate and its defaults are read here, from the JSON
/// files and the graphs' declared inputs and outputs, so that a silo checks requests before any session exists.
/// </summary>
public sealed class ModelFolder
{
    /// <summary>The SD 1.x/2.x VAE scaling factor, used when no VAE config says otherwise.</summary>
    public const float DefaultVaeScalingFactor = 0.18215f;

    /// <summary>The SDXL VAE scaling factor, used for an SDXL export whose VAE config does not say.</summary>
    public const float XLVaeScalingFactor = 0.13025f;

    /// <summary>CLIP's <c>layer_norm_eps</c>, used when the text encoder's config does not say.</summary>
    public const double DefaultLayerNormEpsilon = 1e-5;

    /// <summary>The largest width x height of any family: 1024 x 1024, what the unit quotas are planned for.</summary>
    public const int MaxPixels = 1024 * 1024;

    /// <summary>The UNet inputs of SDXL's added conditioning.</summary>
    public const string TextEmbedsName = "text_embeds";

    /// <summary>See <see cref="TextEmbedsName"/>.</summary>
    public const string TimeIdsName = "time_ids";

    /// <summary><c>time_ids</c> values of an SDXL base UNet: original size, crop top-left, target size.</summary>
    public const int TimeIdsLength = 6;

    private ModelFolder(string root, SchedulerConfig schedulerConfig)
    {
        Root = root;
        SchedulerConfig = schedulerConfig;
    }

    public string Root { get; }

    /// <summary>The folder name, used as the model's display name.</summary>
    public string Name => System.IO.Path.GetFileName(Root.TrimEnd(System.IO.Path.DirectorySeparatorChar));

    public SchedulerConfig SchedulerConfig { get; }

    /// <summary>What the folder is: SD 1.x, SD 2.x, SDXL or an SDXL distilled for few steps.</summary>
    public ModelFamily Family { get; private init; }

    /// <summary>Whether the folder is SDXL-shaped: two text encoders, pooled text embeddings and <c>time_ids</c>.</summary>
    public bool IsXL => ModelFamilies.IsXL(Family);

    /// <summary>
    /// The VAE's <c>scaling_factor</c> from <c>vae_decoder/config.json</c> (or <c>vae_encoder/</c>'s), else 0.18215
    /// (0.13025 for SDXL).
    /// </summary>
    public float VaeScalingFactor { get; private init; }

    /// <summary>
    /// The VAE config's <c>force_upcast</c> (default true, as diffusers' AutoencoderKL): the SDXL VAE overflows in
    /// float16, so an SDXL export whose VAE graphs compute in float16 is run in float32 when it is set. Only the fp16-fix
    /// VAE (<c>madebyollin/sdxl-vae-fp16-fix</c>) clears it.
    /// </summary>
    public bool VaeForceUpcast { get; private init; }

    /// <summary>Whether <c>model_index.json</c> marks this folder as one of the project's generated demo models.</summary>
    public bool IsDemoModel { get; private init; }

    /// <summary>
    /// What the demo marker (<c>_demo_model</c>) says the folder is: the tiny demo model, or a full-size architecture with
    /// generated weights that is not a picture generator; null for a real export.
    /// </summary>
    public string? DemoNotice { get; private init; }

    /// <summary>
    /// The text encoder's layer count when its export outputs every <c>hidden_states.N</c> (read from the ONNX file
    /// without loading it); null when it does not, and CLIP skip is then unavailable on SD 1.x/2.x.
    /// </summary>
    public int? TextEncoderLayers { get; private init; }

    /// <summary>The second text encoder's layer count (SDXL, which needs its hidden states); null for SD 1.x/2.x.</summary>
    public int? TextEncoder2Layers { get; private init; }

    /// <summary>
    /// The largest CLIP skip (AUTOMATIC1111's <c>CLIP_stop_at_last_layers</c>) this model can run: SD 1.x/2.x, the
    /// text encoder's layer count, or 1 without hidden states; SDXL, the smaller of its encoders' layer counts (CLIP skip
    /// N reads <c>hidden_states[-(N + 1)]</c> of each, N = 1 being SDXL's own penultimate layer).
    /// </summary>
    public int MaxClipSkip => IsXL ? Math.Min(TextEncoderLayers!.Value, TextEncoder2Layers!.Value) : TextEncoderLayers ?? 1;

    /// <summary>The final layer norm's epsilon, from <c>text_encoder/config.json</c> (<c>layer_norm_eps</c>) or CLIP's default.</summary>
    public double TextEncoderLayerNormEpsilon { get; private init; }

    /// <summary>
    /// <c>force_zeros_for_empty_prompt</c> of <c>model_index.json</c> (SDXL; default true as in diffusers' SDXL
    /// pipeline): an empty negative prompt is then all zeros (hidden states and pooled embeddings) instead of the
    /// encoding of "", as AUTOMATIC1111 and diffusers condition SDXL. Always false for SD 1.x/2.x.
    /// </summary>
    public bool ForceZerosForEmptyPrompt { get; private init; }

    /// <summary>The sizes this model can generate and its default size.</summary>
    public ImageSizeRules SizeRules { get; private init; } = null!;

    /// <summary>Steps a request gets when it names none: 4 for <see cref="ModelFamily.StableDiffusionXLTurbo"/>, else 20.</summary>
    public int DefaultSteps => Family == ModelFamily.StableDiffusionXLTurbo ? 4 : 20;

    /// <summary>
    /// Guidance a request gets when it names none: 0 (no classifier-free guidance, as it was distilled) for
    /// <see cref="ModelFamily.StableDiffusionXLTurbo"/>, else 7.5.
    /// </summary>
    public float DefaultGuidanceScale => Family == ModelFamily.StableDiffusionXLTurbo ? 0f : 7.5f;

    /// <summary>The UNet's declared inputs and outputs, read from its file.</summary>
    public OnnxGraphHeader UNetHeader { get; private init; } = null!;

    public string TokenizerDirectory => System.IO.Path.Combine(Root, "tokenizer");

    /// <summary>SDXL's second tokenizer (OpenCLIP's vocabulary, padded with <c>!</c>).</summary>
    public string Tokenizer2Directory => System.IO.Path.Combine(Root, "tokenizer_2");

    public string TextEncoderPath => System.IO.Path.Combine(Root, "text_encoder", "model.onnx");

    /// <summary>SDXL's second text encoder (OpenCLIP bigG with its projection: <c>text_embeds</c>).</summary>
    public string TextEncoder2Path => System.IO.Path.Combine(Root, "text_encoder_2", "model.onnx");

    public string UNetPath => System.IO.Path.Combine(Root, "unet", "model.onnx");

    public string VaeDecoderPath => System.IO.Path.Combine(Root, "vae_decoder", "model.onnx");

    public string VaeEncoderPath => System.IO.Path.Combine(Root, "vae_encoder", "model.onnx");

    public bool HasVaeEncoder => File.Exists(VaeEncoderPath);

    /// <summary>Checks the layout and reads the JSON files and the graphs' headers.</summary>
    /// <exception cref="InvalidModelException">The folder is not a usable model; the message names the file.</exception>
    public static ModelFolder Open(string path)
    {
        var root = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(root))
        {
            throw new InvalidModelException(root, "model folder not found.");
        }

        string In(params string[] parts) => System.IO.Path.Combine([root, .. parts]);
        var index = ReadJsonObject(In("model_index.json"));
        var className = index.TryGetProperty("_class_name", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString() ?? string.Empty : string.Empty;
        RefuseUnsupportedLayouts(root, index, className);

        var schedulerPath = In("scheduler", "scheduler_config.json");
        RequireFile(schedulerPath, "the scheduler configuration is missing");
        SchedulerConfig schedulerConfig;
        try
        {
            schedulerConfig = SchedulerConfig.Load(schedulerPath);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(schedulerPath, e.Message, e);
        }

        foreach (var file in new[] { "vocab.json", "merges.txt" })
        {
            RequireFile(In("tokenizer", file), "the CLIP tokenizer needs it");
        }

        foreach (var component in new[] { "text_encoder", "unet", "vae_decoder" })
        {
            RequireFile(In(component, "model.onnx"), $"the {component} graph is missing");
        }

        var unet = ReadHeader(In("unet", "model.onnx"));
        var xl = File.Exists(In("text_encoder_2", "model.onnx"))
            || className.Contains("StableDiffusionXL", StringComparison.Ordinal)
            || unet.FindInput(TextEmbedsName) is not null
            || unet.FindInput(TimeIdsName) is not null;
        var layers = TextEncoderOutputs.LayerCount(ReadHeader(In("text_encoder", "model.onnx")).Outputs.Select(o => o.Name));
        int? layers2 = null;
        if (xl)
        {
            layers2 = CheckXLLayout(root, unet, layers);
        }

        var vaeConfig = ReadOptionalJsonObject(In("vae_decoder", "config.json")) ?? ReadOptionalJsonObject(In("vae_encoder", "config.json"));
        var scaling = ReadPositive(vaeConfig, "scaling_factor", In("vae_decoder", "config.json")) is { } factor
            ? (float)factor
            : xl ? XLVaeScalingFactor : DefaultVaeScalingFactor;
        var textEncoderConfigPath = In("text_encoder", "config.json");
        var textEncoderConfig = ReadOptionalJsonObject(textEncoderConfigPath);
        var epsilon = ReadPositive(textEncoderConfig, "layer_norm_eps", textEncoderConfigPath) ?? DefaultLayerNormEpsilon;

        var family = xl
            ? schedulerConfig.TimestepSpacing == TimestepSpacing.Trailing ? ModelFamily.StableDiffusionXLTurbo : ModelFamily.StableDiffusionXL
            : TextHiddenSize(unet, textEncoderConfig) == 1024 ? ModelFamily.StableDiffusion2 : ModelFamily.StableDiffusion1;
        return new ModelFolder(root, schedulerConfig)
        {
            Family = family,
            VaeScalingFactor = scaling,
            VaeForceUpcast = ReadBool(vaeConfig, "force_upcast", In("vae_decoder", "config.json")) ?? true,
            IsDemoModel = index.TryGetProperty("_demo_model", out var demo),
            DemoNotice = demo.ValueKind == JsonValueKind.String ? demo.GetString() : null,
            TextEncoderLayers = layers,
            TextEncoder2Layers = layers2,
            TextEncoderLayerNormEpsilon = epsilon,
            ForceZerosForEmptyPrompt = xl && (ReadBool(index, "force_zeros_for_empty_prompt", In("model_index.json")) ?? true),
            SizeRules = ReadSizeRules(In("unet", "config.json"), family),
            UNetHeader = unet,
        };
    }

    /// <summary>Layouts that are not Stable Diffusion UNet pipelines, or SDXL's refiner: refused with what they are.</summary>
    private static void RefuseUnsupportedLayouts(string root, JsonElement index, string className)
    {
        if (Directory.Exists(System.IO.Path.Combine(root, "transformer")) && !Directory.Exists(System.IO.Path.Combine(root, "unet")))
        {
            throw new InvalidModelException(root, $"a transformer pipeline ({(className.Length > 0 ? className : "SD3, Flux or the like")}) is not supported: only UNet pipelines (SD 1.x, 2.x, SDXL) are.");
        }

        var refiner = index.TryGetProperty("requires_aesthetics_score", out var aesthetics) && aesthetics.ValueKind == JsonValueKind.True;
        refiner |= File.Exists(System.IO.Path.Combine(root, "text_encoder_2", "model.onnx")) && !File.Exists(System.IO.Path.Combine(root, "text_encoder", "model.onnx"));
        if (refiner)
        {
            throw new InvalidModelException(root, "this is an SDXL refiner export (one text encoder, an aesthetic score in time_ids), which is not supported: serve the SDXL base model.");
        }
    }

    /// <summary>
    /// The parts an SDXL export needs: the second tokenizer and text encoder, both encoders' hidden states (SDXL reads
    /// their penultimate layers), <c>text_embeds</c> from the second and the UNet's added conditioning. Returns the
    /// second encoder's layer count.
    /// </summary>
    private static int CheckXLLayout(string root, OnnxGraphHeader unet, int? layers)
    {
        var textEncoder2 = System.IO.Path.Combine(root, "text_encoder_2", "model.onnx");
        RequireFile(textEncoder2, "an SDXL export has a second text encoder");
        foreach (var file in new[] { "vocab.json", "merges.txt" })
        {
            RequireFile(System.IO.Path.Combine(root, "tokenizer_2", file), "SDXL's second tokenizer needs it");
        }

        if (layers is null)
        {
            throw new InvalidModelException(
                System.IO.Path.Combine(root, "text_encoder", "model.onnx"),
                "an SDXL text encoder must output its hidden states (hidden_states.0 ... hidden_states.N): SDXL conditions on the penultimate layer. Export it as optimum or Olive do.");
        }

        var header2 = ReadHeader(textEncoder2);
        var layers2 = TextEncoderOutputs.LayerCount(header2.Outputs.Select(o => o.Name))
            ?? throw new InvalidModelException(textEncoder2, "SDXL's second text encoder must output its hidden states (hidden_states.0 ... hidden_states.N): SDXL conditions on the penultimate layer.");
        if (header2.FindOutput(TextEmbedsName) is null)
        {
            throw new InvalidModelException(textEncoder2, $"has no output '{TextEmbedsName}' (the pooled, projected text embeddings SDXL's UNet takes).");
        }

        var unetPath = System.IO.Path.Combine(root, "unet", "model.onnx");
        if (unet.FindInput(TextEmbedsName) is null || unet.FindInput(TimeIdsName) is not { } timeIds)
        {
            throw new InvalidModelException(unetPath, $"an SDXL UNet takes '{TextEmbedsName}' and '{TimeIdsName}'; this one has inputs {string.Join(", ", unet.Inputs.Select(i => i.Name))}.");
        }

        if (timeIds.Rank != 2 || (timeIds.Dimensions[1] > 0 && timeIds.Dimensions[1] != TimeIdsLength))
        {
            throw new InvalidModelException(unetPath, timeIds.Rank == 2 && timeIds.Dimensions[1] == 5
                ? "time_ids holds 5 values: this is an SDXL refiner UNet (aesthetic score), which is not supported."
                : $"time_ids must be [batch, {TimeIdsLength}] (original size, crop top-left, target size).");
        }

        return layers2;
    }

    /// <summary>
    /// The size rules of the family, with the default size and the side multiple from <c>unet/config.json</c> where it
    /// gives them (<c>sample_size</c> in latent pixels; one downsampling per <c>down_block_types</c> entry but the last).
    /// </summary>
    private static ImageSizeRules ReadSizeRules(string unetConfigPath, ModelFamily family)
    {
        var xl = ModelFamilies.IsXL(family);
        var side = family == ModelFamily.StableDiffusionXL ? 1024 : 512;
        var (width, height) = (side, side);
        var multiple = xl ? 32 : 8;
        if (ReadOptionalJsonObject(unetConfigPath) is { } config)
        {
            if (config.TryGetProperty("sample_size", out var sample))
            {
                (height, width) = sample.ValueKind switch
                {
                    JsonValueKind.Number when sample.TryGetInt32(out var s) && s > 0 => (s * 8, s * 8),
                    JsonValueKind.Array when sample.GetArrayLength() == 2 && sample[0].TryGetInt32(out var h) && sample[1].TryGetInt32(out var w) && h > 0 && w > 0 => (h * 8, w * 8),
                    _ => throw new InvalidModelException(unetConfigPath, $"sample_size must be a positive number or [height, width], not {sample.GetRawText()}."),
                };
            }

            if (config.TryGetProperty("down_block_types", out var blocks) && blocks.ValueKind == JsonValueKind.Array && blocks.GetArrayLength() is > 0 and <= 6)
            {
                multiple = 8 << (blocks.GetArrayLength() - 1);
            }
        }

        var rules = new ImageSizeRules(width, height, multiple, MinSide: 64, MaxSide: xl ? 2048 : 1024, MaxPixels);
        if (rules.Problem(width, height) is { } problem)
        {
            throw new InvalidModelException(unetConfigPath, $"the model's own size (sample_size x 8) does not fit its family's limits: {problem}.");
        }

        return rules;
    }

    /// <summary>The width of the text the UNet takes: its <c>encoder_hidden_states</c>, else the text encoder config's.</summary>
    private static int TextHiddenSize(OnnxGraphHeader unet, JsonElement? textEncoderConfig)
    {
        if (unet.FindInput("encoder_hidden_states") is { Rank: 3 } states && states.Dimensions[2] > 0)
        {
            return states.Dimensions[2];
        }

        return textEncoderConfig is { } config && config.TryGetProperty("hidden_size", out var hidden) && hidden.TryGetInt32(out var size) ? size : 0;
    }

    private static OnnxGraphHeader ReadHeader(string path)
    {
        try
        {
            return OnnxGraphHeader.Read(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(path, e.Message, e);
        }
    }

    private static void RequireFile(string path, string why)
    {
        if (!File.Exists(path))
        {
            throw new InvalidModelException(path, $"file not found: {why}.");
        }
    }

    private static JsonElement ReadJsonObject(string path)
    {
        RequireFile(path, "a diffusers model folder starts with model_index.json");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidModelException(path, "expected a JSON object.");
            }

            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidModelException(path, $"not valid JSON ({e.Message}).", e);
        }
    }

    private static JsonElement? ReadOptionalJsonObject(string path) => File.Exists(path) ? ReadJsonObject(path) : null;

    private static double? ReadPositive(JsonElement? config, string key, string path)
    {
        if (config is not { } json || !json.TryGetProperty(key, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !(number > 0) || !double.IsFinite(number))
        {
            throw new InvalidModelException(path, $"{key} must be a positive number, not {value.GetRawText()}.");
        }

        return number;
    }

    private static bool? ReadBool(JsonElement? config, string key, string path)
    {
        if (config is not { } json || !json.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidModelException(path, $"{key} must be true or false, not {value.GetRawText()}."),
        };
    }

    public override string ToString() => Root.ToString(CultureInfo.InvariantCulture);
}
