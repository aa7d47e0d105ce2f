using System.Globalization;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>A one-line progress bar redrawn in place with a carriage return. Reports arrive on the generating thread.</summary>
internal sealed class TerminalProgressBar(TextWriter writer) : IProgress<GenerationProgress>
{
    private const int Width = 30;

    public void Report(GenerationProgress value)
    {
        var filled = value.TotalSteps == 0 ? Width : value.Step * Width / value.TotalSteps;
        var perStep = value.Step == 0 ? 0 : value.Elapsed.TotalSeconds / value.Step;
        var eta = perStep * (value.TotalSteps - value.Step);
        writer.Write(string.Create(
            CultureInfo.InvariantCulture,
            $"\r[{new string('#', filled)}{new string('.', Width - filled)}] {value.Step}/{value.TotalSteps} {value.Elapsed.TotalSeconds:F1}s, eta {eta:F1}s "));
        writer.Flush();
    }
}
