using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary><c>demo-model --out DIR [--flavor optimum|optimum-legacy|diffusers|olive-fp16]</c></summary>
internal static class DemoModelCommand
{
    public const string Name = "demo-model";

    public static readonly string[] Options = ["out", "flavor"];

    public static int Run(ParsedArguments args, TextWriter output)
    {
        var directory = args.RequiredText("out");
        var flavorName = args.Text("flavor") ?? "optimum";
        if (!DemoModelWriter.TryParseFlavor(flavorName, out var flavor))
        {
            throw new CommandLineException($"--flavor must be one of optimum, optimum-legacy, diffusers, olive-fp16, not '{flavorName}'.");
        }

        DemoModelWriter.Write(directory, new DemoModelOptions { Flavor = flavor });
        output.WriteLine($"Wrote the tiny demo model ({flavorName} layout) to {Path.GetFullPath(directory)}.");
        output.WriteLine("It is a demo model, NOT Stable Diffusion: it paints smooth abstract colour fields that follow the prompt and seed.");
        return 0;
    }
}
