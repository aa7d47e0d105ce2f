using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>The zero-config model of the tools: the tiny demo model, written on first use (not Stable Diffusion).</summary>
internal static class DefaultDemoModel
{
    /// <summary>Returns the folder, writing the demo model first when it is not there yet.</summary>
    public static string Ensure(TextWriter log)
    {
        var directory = DemoModelWriter.DefaultDirectory;
        if (DemoModelWriter.Ensure(directory))
        {
            log.WriteLine($"No --model given: wrote the tiny demo model (NOT Stable Diffusion) to {directory}.");
            log.WriteLine("To generate real images, pass --model with a diffusers/optimum ONNX export folder of Stable Diffusion.");
        }

        return directory;
    }
}
