using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace OrleansDiffusion.Api.Tests;

/// <summary>A script of <c>tests/js</c> run by Node (with <c>tests/node_modules</c>), its stdout read line by line.</summary>
public sealed class NodeScript : IDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();

    private NodeScript(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string TestsDirectory { get; } = FindTestsDirectory();

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <c>node tests/js/{script} args...</c>; fails clearly when the npm packages are not installed.</summary>
    public static NodeScript Start(string script, params string[] args)
    {
        var modules = Path.Combine(TestsDirectory, "node_modules");
        Assert.True(Directory.Exists(Path.Combine(modules, "@microsoft", "signalr")), $"The test's npm packages are missing: run 'npm ci --prefix tests' ({modules}).");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Path.Combine(TestsDirectory, "js"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(TestsDirectory, "js", script));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return new NodeScript(Process.Start(start) ?? throw new InvalidOperationException("node did not start."));
    }

    /// <summary>The next line of stdout; null at its end.</summary>
    public async Task<string?> ReadLineAsync(double seconds = 90)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        try
        {
            return await _lines.Reader.WaitToReadAsync(timeout.Token) ? await _lines.Reader.ReadAsync(timeout.Token) : null;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No output from node within {seconds} s. stderr: {Stderr}");
        }
    }

    public async Task<int> WaitForExitAsync(double seconds = 30)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private static string FindTestsDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OrleansDiffusion.sln")))
            {
                return Path.Combine(directory.FullName, "tests");
            }
        }

        throw new InvalidOperationException($"No OrleansDiffusion.sln above {AppContext.BaseDirectory}.");
    }
}
