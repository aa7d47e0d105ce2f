using System.Globalization;
using System.Text.Json;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// A diffusers/optimum ONNX export folder, checked without loading any graph: <c>model_index.json</c>,
/// <c>scheduler/scheduler_config.json</c>, <c>tokenizer/</c>, <c>text_encoder/</c>, <c>unet/</c>, <c>vae_decoder/</c>
/// and, for img2img, <c>vae_encoder/</c>.
/// </summary>
public sealed class ModelFolder
{
    /// <summary>The SD 1.x/2.x VAE scaling factor, used when no VAE config says otherwise.</summary>
    public const float DefaultVaeScalingFactor = 0.18215f;

    /// <summary>CLIP's <c>layer_norm_eps</c>, used when the text encoder's config does not say.</summary>
    public const double DefaultLayerNormEpsilon = 1e-5;

    private ModelFolder(string root, SchedulerConfig schedulerConfig, float vaeScalingFactor, bool isDemo, int? textEncoderLayers, double layerNormEpsilon)
    {
        Root = root;
        SchedulerConfig = schedulerConfig;
        VaeScalingFactor = vaeScalingFactor;
        IsDemoModel = isDemo;
        TextEncoderLayers = textEncoderLayers;
        TextEncoderLayerNormEpsilon = layerNormEpsilon;
    }

    public string Root { get; }

    /// <summary>The folder name, used as the model's display name.</summary>
    public string Name => System.IO.Path.GetFileName(Root.TrimEnd(System.IO.Path.DirectorySeparatorChar));

    public SchedulerConfig SchedulerConfig { get; }

    public float VaeScalingFactor { get; }

    /// <summary>Whether <c>model_index.json</c> marks this folder as the project's tiny demo model.</summary>
    public bool IsDemoModel { get; }

    /// <summary>
    /// The text encoder's layer count when its export outputs every <c>hidden_states.N</c> (read from the ONNX file
    /// without loading it); null when it does not, and CLIP skip is then unavailable.
    /// </summary>
    public int? TextEncoderLayers { get; }

    /// <summary>The largest CLIP skip (AUTOMATIC1111's <c>CLIP_stop_at_last_layers</c>) this model can run: its layer count, or 1.</summary>
    public int MaxClipSkip => TextEncoderLayers ?? 1;

    /// <summary>The final layer norm's epsilon, from <c>text_encoder/config.json</c> (<c>layer_norm_eps</c>) or CLIP's default.</summary>
    public double TextEncoderLayerNormEpsilon { get; }

    public string TokenizerDirectory => System.IO.Path.Combine(Root, "tokenizer");

    public string TextEncoderPath => System.IO.Path.Combine(Root, "text_encoder", "model.onnx");

    public string UNetPath => System.IO.Path.Combine(Root, "unet", "model.onnx");

    public string VaeDecoderPath => System.IO.Path.Combine(Root, "vae_decoder", "model.onnx");

    public string VaeEncoderPath => System.IO.Path.Combine(Root, "vae_encoder", "model.onnx");

    public bool HasVaeEncoder => File.Exists(VaeEncoderPath);

    /// <summary>Checks the layout and reads the JSON files.</summary>
    /// <exception cref="InvalidModelException">The folder is not a usable model; the message names the file.</exception>
    public static ModelFolder Open(string path)
    {
        var root = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(root))
        {
            throw new InvalidModelException(root, "model folder not found.");
        }

        var index = ReadJsonObject(System.IO.Path.Combine(root, "model_index.json"));
        var isDemo = index.TryGetProperty("_demo_model", out _);

        var schedulerPath = System.IO.Path.Combine(root, "scheduler", "scheduler_config.json");
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
            RequireFile(System.IO.Path.Combine(root, "tokenizer", file), "the CLIP tokenizer needs it");
        }

        foreach (var component in new[] { "text_encoder", "unet", "vae_decoder" })
        {
            RequireFile(System.IO.Path.Combine(root, component, "model.onnx"), $"the {component} graph is missing");
        }

        var scaling = ReadScalingFactor(System.IO.Path.Combine(root, "vae_decoder", "config.json"))
            ?? ReadScalingFactor(System.IO.Path.Combine(root, "vae_encoder", "config.json"))
            ?? DefaultVaeScalingFactor;
        var textEncoderPath = System.IO.Path.Combine(root, "text_encoder", "model.onnx");
        int? layers;
        try
        {
            layers = TextEncoderOutputs.LayerCount(TextEncoderOutputs.ReadOutputNames(textEncoderPath));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(textEncoderPath, e.Message, e);
        }

        var epsilon = ReadPositiveNumber(System.IO.Path.Combine(root, "text_encoder", "config.json"), "layer_norm_eps") ?? DefaultLayerNormEpsilon;
        return new ModelFolder(root, schedulerConfig, scaling, isDemo, layers, epsilon);
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

    private static float? ReadScalingFactor(string configPath)
    {
        if (!File.Exists(configPath))
        {
            return null;
        }

        var config = ReadJsonObject(configPath);
        if (!config.TryGetProperty("scaling_factor", out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetSingle(out var factor) || !(factor > 0))
        {
            throw new InvalidModelException(configPath, $"scaling_factor must be a positive number, not {value.GetRawText()}.");
        }

        return factor;
    }

    private static double? ReadPositiveNumber(string configPath, string key)
    {
        if (!File.Exists(configPath))
        {
            return null;
        }

        var config = ReadJsonObject(configPath);
        if (!config.TryGetProperty(key, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !(number > 0) || !double.IsFinite(number))
        {
            throw new InvalidModelException(configPath, $"{key} must be a positive number, not {value.GetRawText()}.");
        }

        return number;
    }

    public override string ToString() => Root.ToString(CultureInfo.InvariantCulture);
}
