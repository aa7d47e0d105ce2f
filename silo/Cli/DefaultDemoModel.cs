using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>
/// The zero-config model: the tiny demo model, written on first use to <c>$ORLEANSDIFFUSION_DEMO_MODEL</c> or
/// <c>~/.cache/orleans-diffusion/demo-model</c>. It is not Stable Diffusion, and everything that uses it says so.
/// </summary>
internal static class DefaultDemoModel
{
    public const string EnvironmentVariable = "ORLEANSDIFFUSION_DEMO_MODEL";

    public static string Directory =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "orleans-diffusion", "demo-model");

    /// <summary>Returns the folder, writing the demo model first when it is not there yet.</summary>
    public static string Ensure(TextWriter log)
    {
        var directory = Directory;
        if (File.Exists(Path.Combine(directory, "model_index.json")))
        {
            return directory;
        }

        // Written beside the final folder and moved in, so that a crash never leaves a half model behind.
        var staging = directory + ".tmp-" + Environment.ProcessId;
        DemoModelWriter.Write(staging);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(directory)!);
        try
        {
            System.IO.Directory.Move(staging, directory);
        }
        catch (IOException) when (File.Exists(Path.Combine(directory, "model_index.json")))
        {
            System.IO.Directory.Delete(staging, recursive: true); // another process won the race
        }

        log.WriteLine($"No --model given: wrote the tiny demo model (NOT Stable Diffusion) to {directory}.");
        log.WriteLine("To generate real images, pass --model with a diffusers/optimum ONNX export folder of Stable Diffusion.");
        return directory;
    }
}
