using System.Diagnostics;
using System.Reflection;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>Runs this benchmark executable again as a child process and returns the line it marks as its result.</summary>
public static class ChildProcess
{
    /// <summary>Starts the child, passes its stderr through, and returns the text after <paramref name="marker"/> on stdout.</summary>
    public static string Run(IEnumerable<string> arguments, string marker, TextWriter log, IDictionary<string, string>? environment = null)
    {
        var start = StartInfo(arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the child process.");
        string? result = null;
        var errors = process.StandardError.ReadToEndAsync();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith(marker, StringComparison.Ordinal))
            {
                result = line[marker.Length..];
            }
        }

        process.WaitForExit();
        var stderr = errors.GetAwaiter().GetResult();
        if (process.ExitCode != 0 || result is null)
        {
            log.Write(stderr);
            throw new InvalidOperationException($"The child process ({string.Join(' ', start.ArgumentList)}) exited with {process.ExitCode} and no result.");
        }

        return result;
    }

    /// <summary>This executable (the apphost, or <c>dotnet</c> with this assembly) with <paramref name="arguments"/>.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }
}
