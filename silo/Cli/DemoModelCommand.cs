using System.Globalization;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.DemoModel.FullSize;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>
/// <c>demo-model --out DIR [--architecture tiny|sd15|sdxl] [--family sd|sdxl|sdxl-turbo]
/// [--flavor optimum|optimum-legacy|diffusers|olive-fp16|optimum-fp16|olive] [--unet plain|lcm|inpainting] [--text-encoder-layers N]</c>
/// </summary>
internal static class DemoModelCommand
{
    public const string Name = "demo-model";

    public static readonly string[] Options = ["out", "architecture", "family", "flavor", "unet", "text-encoder-layers"];

    private const string NoDiffusersSdxl = "--flavor diffusers has no SDXL export (the diffusers script does not export SDXL); use optimum, optimum-legacy, optimum-fp16, olive or olive-fp16.";

    public static int Run(ParsedArguments args, TextWriter output)
    {
        var directory = args.RequiredText("out");
        var flavorName = args.Text("flavor") ?? "optimum";
        if (!DemoModelWriter.TryParseFlavor(flavorName, out var flavor))
        {
            throw new CommandLineException($"--flavor must be one of {string.Join(", ", DemoModelWriter.FlavorNames)}, not '{flavorName}'.");
        }

        var architectureName = args.Text("architecture") ?? "tiny";
        if (!DemoModelWriter.TryParseArchitecture(architectureName, out var architecture))
        {
            throw new CommandLineException($"--architecture must be one of {string.Join(", ", DemoModelWriter.ArchitectureNames)}, not '{architectureName}'.");
        }

        if (architecture != DemoModelArchitecture.Tiny)
        {
            return RunFullSize(args, directory, architecture, flavor, output);
        }

        var familyName = args.Text("family") ?? "sd";
        if (!DemoModelWriter.TryParseFamily(familyName, out var family))
        {
            throw new CommandLineException($"--family must be one of {string.Join(", ", DemoModelWriter.FamilyNames)}, not '{familyName}'.");
        }

        if (family != DemoModelFamily.StableDiffusion && flavor == DemoModelFlavor.Diffusers)
        {
            throw new CommandLineException(NoDiffusersSdxl);
        }

        var layers = args.Int("text-encoder-layers", 0);
        if (layers < 0)
        {
            throw new CommandLineException($"--text-encoder-layers must not be negative, not {layers}.");
        }

        var unet = args.Text("unet") ?? "plain";
        var plain = new DemoModelOptions { Flavor = flavor, Family = family, TextEncoderLayers = layers };
        var options = unet switch
        {
            "plain" => plain,
            "lcm" => plain with { GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize },
            "inpainting" => plain with { Inpainting = true },
            _ => throw new CommandLineException($"--unet must be one of plain, lcm, inpainting, not '{unet}'."),
        };

        DemoModelWriter.Write(directory, options);
        output.WriteLine($"Wrote the tiny {familyName}-shaped demo model ({flavorName} layout, {unet} UNet) to {Path.GetFullPath(directory)}.");
        output.WriteLine("It is a demo model, NOT Stable Diffusion: it paints smooth abstract colour fields that follow the prompt and seed.");
        return 0;
    }

    /// <summary>A full-size architecture: the published networks with generated weights, their parameter counts printed.</summary>
    private static int RunFullSize(ParsedArguments args, string directory, DemoModelArchitecture architecture, DemoModelFlavor flavor, TextWriter output)
    {
        foreach (var option in new[] { "family", "unet", "text-encoder-layers" })
        {
            if (args.Text(option) is not null)
            {
                throw new CommandLineException($"--{option} is an option of the tiny model; --architecture {args.Text("architecture")} is the published base model.");
            }
        }

        var xl = architecture == DemoModelArchitecture.StableDiffusionXL;
        if (xl && flavor == DemoModelFlavor.Diffusers)
        {
            throw new CommandLineException(NoDiffusersSdxl);
        }

        var components = FullSizeModelWriter.Write(directory, new DemoModelOptions
        {
            Architecture = architecture,
            Family = xl ? DemoModelFamily.StableDiffusionXL : DemoModelFamily.StableDiffusion,
            Flavor = flavor,
        });
        output.WriteLine($"Wrote the full-size {(xl ? "SDXL base" : "SD 1.5")} architecture ({DemoModelWriter.FlavorName(flavor)} layout) to {Path.GetFullPath(directory)}:");
        foreach (var component in components)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {component.Name,-15} {component.Parameters,15:N0} parameters {component.Bytes / (1024.0 * 1024 * 1024),8:N2} GiB"));
        }

        output.WriteLine("Its weights are generated, not trained: it is NOT a picture generator, only the real networks' size and cost.");
        return 0;
    }
}
