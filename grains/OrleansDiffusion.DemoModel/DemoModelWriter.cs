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
    ];

    /// <summary>The names <see cref="TryParseFlavor"/> accepts, in the order of <see cref="DemoModelFlavor"/>.</summary>
    public static IReadOnlyList<string> FlavorNames { get; } = [.. Flavors.Select(f => f.Name)];

    /// <summary>
    /// Writes the model folder into <paramref name="directory"/> (created when missing; files already there are
    /// overwritten, others are left alone).
    /// </summary>
    public static void Write(string directory, DemoModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new DemoModelOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.HiddenSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.UNetExtraConvLayers, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.TextEncoderLayers, nameof(options));
        if (options.GuidanceEmbeddingSize is < 0 or 1 or 2 or 3)
        {
            // diffusers' embedding divides by half the width minus one: 4 is the narrowest it can compute.
            throw new ArgumentOutOfRangeException(nameof(options), options.GuidanceEmbeddingSize, "GuidanceEmbeddingSize is 0 (none) or at least 4.");
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
