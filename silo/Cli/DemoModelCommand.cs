using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>
/// <c>demo-model --out DIR [--family sd|sdxl|sdxl-turbo] [--flavor optimum|optimum-legacy|diffusers|olive-fp16|optimum-fp16|olive]
/// [--unet plain|lcm|inpainting] [--text-encoder-layers N]</c>
/// </summary>
internal static class DemoModelCommand
{
    public const string Name = "demo-model";

    public static readonly string[] Options = ["out", "family", "flavor", "unet", "text-encoder-layers"];

    public static int Run(ParsedArguments args, TextWriter output)
    {
        var directory = args.RequiredText("out");
        var flavorName = args.Text("flavor") ?? "optimum";
        if (!DemoModelWriter.TryParseFlavor(flavorName, out var flavor))
        {
            throw new CommandLineException($"--flavor must be one of {string.Join(", ", DemoModelWriter.FlavorNames)}, not '{flavorName}'.");
        }

        var familyName = args.Text("family") ?? "sd";
        if (!DemoModelWriter.TryParseFamily(familyName, out var family))
        {
            throw new CommandLineException($"--family must be one of {string.Join(", ", DemoModelWriter.FamilyNames)}, not '{familyName}'.");
        }

        if (family != DemoModelFamily.StableDiffusion && flavor == DemoModelFlavor.Diffusers)
        {
            throw new CommandLineException("--flavor diffusers has no SDXL export (the diffusers script does not export SDXL); use optimum, optimum-legacy, optimum-fp16, olive or olive-fp16.");
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
}
