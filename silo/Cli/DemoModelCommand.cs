using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary><c>demo-model --out DIR [--flavor optimum|optimum-legacy|diffusers|olive-fp16] [--unet plain|lcm|inpainting] [--text-encoder-layers N]</c></summary>
internal static class DemoModelCommand
{
    public const string Name = "demo-model";

    public static readonly string[] Options = ["out", "flavor", "unet", "text-encoder-layers"];

    public static int Run(ParsedArguments args, TextWriter output)
    {
        var directory = args.RequiredText("out");
        var flavorName = args.Text("flavor") ?? "optimum";
        if (!DemoModelWriter.TryParseFlavor(flavorName, out var flavor))
        {
            throw new CommandLineException($"--flavor must be one of optimum, optimum-legacy, diffusers, olive-fp16, not '{flavorName}'.");
        }

        var layers = args.Int("text-encoder-layers", 0);
        if (layers < 0)
        {
            throw new CommandLineException($"--text-encoder-layers must not be negative, not {layers}.");
        }

        var unet = args.Text("unet") ?? "plain";
        var options = unet switch
        {
            "plain" => new DemoModelOptions { Flavor = flavor, TextEncoderLayers = layers },
            "lcm" => new DemoModelOptions { Flavor = flavor, TextEncoderLayers = layers, GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize },
            "inpainting" => new DemoModelOptions { Flavor = flavor, TextEncoderLayers = layers, Inpainting = true },
            _ => throw new CommandLineException($"--unet must be one of plain, lcm, inpainting, not '{unet}'."),
        };

        DemoModelWriter.Write(directory, options);
        output.WriteLine($"Wrote the tiny demo model ({flavorName} layout, {unet} UNet) to {Path.GetFullPath(directory)}.");
        output.WriteLine("It is a demo model, NOT Stable Diffusion: it paints smooth abstract colour fields that follow the prompt and seed.");
        return 0;
    }
}
