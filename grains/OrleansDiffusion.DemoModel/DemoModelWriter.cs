using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.DemoModel.Models;

namespace OrleansDiffusion.DemoModel;

/// <summary>
/// Writes a complete tiny model folder in the diffusers/optimum ONNX layout: what a real Stable Diffusion export
/// looks like to the engine (names, element types, shapes, tokenizer, scheduler), a few MB in size, and
/// byte-identical for the same options. The models are built to behave visibly (smooth, prompt-tinted images), but
/// they are not Stable Diffusion.
/// </summary>
public static class DemoModelWriter
{
    /// <summary>The notice every written model and JSON file carries.</summary>
    public const string DemoModelNotice = "OrleansDiffusion tiny demo model - NOT Stable Diffusion";

    private static readonly (string Name, DemoModelFlavor Flavor)[] Flavors =
    [
        ("optimum", DemoModelFlavor.Optimum),
        ("optimum-legacy", DemoModelFlavor.OptimumLegacy),
        ("diffusers", DemoModelFlavor.Diffusers),
        ("olive-fp16", DemoModelFlavor.OliveFp16),
        ("optimum-fp16", DemoModelFlavor.OptimumFp16),
        ("olive", DemoModelFlavor.Olive),
    ];

    private static readonly (string Name, DemoModelFamily Family)[] Families =
    [
        ("sd", DemoModelFamily.StableDiffusion),
        ("sdxl", DemoModelFamily.StableDiffusionXL),
        ("sdxl-turbo", DemoModelFamily.StableDiffusionXLTurbo),
    ];

    private static readonly (string Name, DemoModelArchitecture Architecture)[] Architectures =
    [
        ("tiny", DemoModelArchitecture.Tiny),
        ("sd15", DemoModelArchitecture.StableDiffusion15),
        ("sdxl", DemoModelArchitecture.StableDiffusionXL),
    ];

    /// <summary>The names <see cref="TryParseArchitecture"/> accepts: <c>tiny</c>, <c>sd15</c>, <c>sdxl</c>.</summary>
    public static IReadOnlyList<string> ArchitectureNames { get; } = [.. Architectures.Select(a => a.Name)];

    /// <summary>Reads an architecture name (case-insensitive): tiny, sd15 or sdxl.</summary>
    public static bool TryParseArchitecture(string? name, out DemoModelArchitecture architecture)
    {
        foreach (var (candidate, value) in Architectures)
        {
            if (string.Equals(candidate, name?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                architecture = value;
                return true;
            }
        }

        architecture = default;
        return false;
    }

    /// <summary>The names <see cref="TryParseFlavor"/> accepts, in the order of <see cref="DemoModelFlavor"/>.</summary>
    public static IReadOnlyList<string> FlavorNames { get; } = [.. Flavors.Select(f => f.Name)];

    /// <summary>The names <see cref="TryParseFamily"/> accepts: <c>sd</c>, <c>sdxl</c>, <c>sdxl-turbo</c>.</summary>
    public static IReadOnlyList<string> FamilyNames { get; } = [.. Families.Select(f => f.Name)];

    /// <summary>
    /// Writes the model folder into <paramref name="directory"/> (created when missing; files already there are
    /// overwritten, others are left alone).
    /// </summary>
    public static void Write(string directory, DemoModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new DemoModelOptions();
        if (options.Architecture != DemoModelArchitecture.Tiny)
        {
            FullSize.FullSizeModelWriter.Write(directory, options);
            return;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.HiddenSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.UNetExtraConvLayers, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.TextEncoderLayers, nameof(options));
        if (options.GuidanceEmbeddingSize is < 0 or 1 or 2 or 3)
        {
            // diffusers' embedding divides by half the width minus one: 4 is the narrowest it can compute.
            throw new ArgumentOutOfRangeException(nameof(options), options.GuidanceEmbeddingSize, "GuidanceEmbeddingSize is 0 (none) or at least 4.");
        }

        if (options.Family != DemoModelFamily.StableDiffusion)
        {
            WriteXL(directory, options);
            return;
        }

        var signature = DemoModelSignature.For(options.Flavor);
        var weights = new DemoModelWeights(options.HiddenSize, options.Seed ?? DemoModelOptions.DefaultSeed, options.TextEncoderLayers);

        string Folder(string name) => Directory.CreateDirectory(Path.Combine(directory, name)).FullName;
        Directory.CreateDirectory(directory);
        DemoModelFiles.WriteRoot(directory, options);
        DemoModelFiles.WriteScheduler(Folder("scheduler"), lcm: options.GuidanceEmbeddingSize > 0);
        var tokenizer = Folder("tokenizer");
        ClipVocabularyFiles.WriteTo(tokenizer);
        DemoModelFiles.WriteTokenizerConfiguration(tokenizer);

        var textEncoder = Folder("text_encoder");
        var unet = Folder("unet");
        var vaeDecoder = Folder("vae_decoder");
        var vaeEncoder = Folder("vae_encoder");
        TextEncoderGraph.Write(Path.Combine(textEncoder, "model.onnx"), signature, weights);
        UNetGraph.Write(Path.Combine(unet, "model.onnx"), signature, weights, options);
        VaeGraphs.WriteDecoder(Path.Combine(vaeDecoder, "model.onnx"), signature);
        VaeGraphs.WriteEncoder(Path.Combine(vaeEncoder, "model.onnx"), signature);

        if (signature.WritesComponentConfigs)
        {
            DemoModelFiles.WriteComponentConfigs(textEncoder, unet, vaeDecoder, vaeEncoder, options);
        }
    }

    /// <summary>The command-line name of <paramref name="family"/> (<c>sd</c>, <c>sdxl</c>, <c>sdxl-turbo</c>).</summary>
    public static string FamilyName(DemoModelFamily family) => Families.First(f => f.Family == family).Name;

    /// <summary>Reads a family name (case-insensitive): sd, sdxl or sdxl-turbo.</summary>
    public static bool TryParseFamily(string? name, out DemoModelFamily family)
    {
        foreach (var (candidate, value) in Families)
        {
            if (string.Equals(candidate, name?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                family = value;
                return true;
            }
        }

        family = default;
        return false;
    }

    /// <summary>
    /// An SDXL-shaped folder: both tokenizers (the second pads with <c>!</c>), both text encoders with their hidden states
    /// (the second with <c>text_embeds</c>), a UNet taking <c>text_embeds</c> and <c>time_ids</c>, the SDXL VAE, and the
    /// component configs both exporters ship.
    /// </summary>
    private static void WriteXL(string directory, DemoModelOptions options)
    {
        var signature = DemoModelSignature.ForXL(options.Flavor);
        var seed = options.Seed ?? DemoModelOptions.DefaultSeed;
        var weights = new XL.XLWeights(seed, options.TextEncoderLayers > 0 ? options.TextEncoderLayers : 2);

        string Folder(string name) => Directory.CreateDirectory(Path.Combine(directory, name)).FullName;
        Directory.CreateDirectory(directory);
        DemoModelFiles.WriteXLRoot(directory, options.Flavor, options.Family);
        DemoModelFiles.WriteXLScheduler(Folder("scheduler"), options.Family);
        foreach (var (tokenizer, pad) in new[] { ("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!") })
        {
            var folder = Folder(tokenizer);
            ClipVocabularyFiles.WriteTo(folder);
            DemoModelFiles.WriteTokenizerConfiguration(folder, pad);
        }

        TextEncoderGraph.Write(Path.Combine(Folder("text_encoder"), "model.onnx"), signature, weights.First);
        TextEncoderGraph.Write(
            Path.Combine(Folder("text_encoder_2"), "model.onnx"),
            signature with { InputIds = signature.InputIds2 },
            weights.Second,
            new TextProjection(weights.PooledProjection, XL.XLWeights.PooledSize, signature.DynamicChannels ? (long)XL.XLWeights.PooledSize : "sequence"));
        UNetGraph.Write(Path.Combine(Folder("unet"), "model.onnx"), signature, weights.First, options, weights);

        // The SDXL VAE's activations overflow float16; the fp16-fix VAE (Olive's fp16 export) keeps them small.
        VaeGraphs.WriteDecoder(Path.Combine(Folder("vae_decoder"), "model.onnx"), signature, XL.XLWeights.VaeScalingFactor,
            signature.VaeForceUpcast ? OverflowingActivations : SmallActivations);
        VaeGraphs.WriteEncoder(Path.Combine(Folder("vae_encoder"), "model.onnx"), signature, XL.XLWeights.VaeScalingFactor);
        DemoModelFiles.WriteXLComponentConfigs(directory, options.Family, weights, signature.VaeForceUpcast, options.Inpainting);
    }

    // Activation sizes of the SDXL-shaped VAE decoder: the square of 1024 x a typical colour overflows float16; of 1/16 not.
    private const float OverflowingActivations = 1024f;
    private const float SmallActivations = 1f / 16;

    /// <summary>The command-line name of <paramref name="flavor"/> (<c>optimum</c>, <c>optimum-legacy</c>, ...).</summary>
    public static string FlavorName(DemoModelFlavor flavor)
    {
        foreach (var (name, candidate) in Flavors)
        {
            if (candidate == flavor)
            {
                return name;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(flavor), flavor, "Unknown demo model flavour.");
    }

    /// <summary>Reads a flavour name (case-insensitive): optimum, optimum-legacy, diffusers or olive-fp16.</summary>
    public static bool TryParseFlavor(string? name, out DemoModelFlavor flavor)
    {
        foreach (var (candidate, value) in Flavors)
        {
            if (string.Equals(candidate, name?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                flavor = value;
                return true;
            }
        }

        flavor = default;
        return false;
    }

    /// <summary>Reads a flavour name; an unknown name fails with the list of known ones.</summary>
    public static DemoModelFlavor ParseFlavor(string name) => TryParseFlavor(name, out var flavor)
        ? flavor
        : throw new ArgumentException($"Unknown demo model flavour '{name}'; expected one of: {string.Join(", ", FlavorNames)}.", nameof(name));

    /// <summary>
    /// The zero-config location of the demo model: <c>$ORLEANSDIFFUSION_DEMO_MODEL</c>, else
    /// <c>~/.cache/orleans-diffusion/demo-model</c>.
    /// </summary>
    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable("ORLEANSDIFFUSION_DEMO_MODEL") is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "orleans-diffusion", "demo-model");

    /// <summary>
    /// Writes the default demo model to <paramref name="directory"/> unless one is there; true when it wrote it.
    /// The folder is written beside its final place and moved in, so that a crash or a concurrent process never
    /// leaves half a model behind.
    /// </summary>
    public static bool Ensure(string directory)
    {
        if (File.Exists(Path.Combine(directory, "model_index.json")))
        {
            return false;
        }

        var staging = $"{Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Write(staging);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(directory))!);
        try
        {
            Directory.Move(staging, directory);
            return true;
        }
        catch (IOException) when (File.Exists(Path.Combine(directory, "model_index.json")))
        {
            Directory.Delete(staging, recursive: true); // another process won the race
            return false;
        }
    }
}
