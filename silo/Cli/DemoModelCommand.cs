using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary><c>demo-model --out DIR [--flavor optimum|optimum-legacy|diffusers|olive-fp16] [--text-encoder-layers N]</c></summary>
internal static class DemoModelCommand
{
    public const string Name = "demo-model";

    public static readonly string[] Options = ["out", "flavor", "text-encoder-layers"];

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

        DemoModelWriter.Write(directory, new DemoModelOptions { Flavor = flavor, TextEncoderLayers = layers });
        output.WriteLine($"Wrote the tiny demo model ({flavorName} layout) to {Path.GetFullPath(directory)}.");
        output.WriteLine("It is a demo model, NOT Stable Diffusion: it paints smooth abstract colour fields that follow the prompt and seed.");
        return 0;
    }
}
