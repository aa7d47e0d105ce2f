using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// <c>deploy/local/run-cluster.sh</c> run for real: Azurite, two silos and the API as processes, on free ports and a run
/// folder of its own, from the builds of this test project (<c>NO_BUILD=1</c>, this configuration). It reads the
/// script's PID file; it signals only the script and the processes that file names. Disposing stops the script and
/// kills whatever of those it left behind.
/// </summary>
internal sealed class LocalClusterRun : IAsyncDisposable
{
    private const int Sigterm = 15;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    private readonly Process _script;
    private readonly StringBuilder _output = new();
    private readonly HashSet<int> _seen = [];

    private LocalClusterRun(Process script, string runDirectory, Dictionary<string, int> ports)
    {
        _script = script;
        RunDirectory = runDirectory;
        Ports = ports;
        _script.OutputDataReceived += (_, e) => Append(e.Data);
        _script.ErrorDataReceived += (_, e) => Append(e.Data);
        _script.BeginOutputReadLine();
        _script.BeginErrorReadLine();
    }

    public string RunDirectory { get; }

    /// <summary>The ports given to the script, by its variable names (<c>API_HTTP_PORT</c>, <c>SILO2_HTTP_PORT</c>...).</summary>
    public IReadOnlyDictionary<string, int> Ports { get; }

    public bool HasExited => _script.HasExited;

    public int ExitCode => _script.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the script and returns once it says the cluster is up.</summary>
    public static async Task<LocalClusterRun> StartAsync(bool restart)
    {
        var runDirectory = Path.Combine(Path.GetTempPath(), "od-run-cluster-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(runDirectory);
        var ports = Repo.ScriptPorts().Keys.Zip(FreePorts(Repo.ScriptPorts().Count)).ToDictionary(p => p.First, p => p.Second);
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = Repo.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Repo.PathOf("deploy/local/run-cluster.sh"));
        info.Environment["NO_BUILD"] = "1";
        info.Environment["CONFIGURATION"] = typeof(LocalClusterRun).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        info.Environment["RUN_DIR"] = runDirectory;
        info.Environment["RESTART"] = restart ? "1" : string.Empty;
        info.Environment["SILO_ARGS"] = "--Logging:LogLevel:Default=Warning";
        foreach (var (name, port) in ports)
        {
            info.Environment[name] = port.ToString(CultureInfo.InvariantCulture);
        }

        var run = new LocalClusterRun(Process.Start(info) ?? throw new InvalidOperationException("bash did not start."), runDirectory, ports);
        try
        {
            await run.WaitForOutputAsync("run-cluster: up.", StartTimeout);
            return run;
        }
        catch
        {
            await run.DisposeAsync();
            throw;
        }
    }

    /// <summary>The processes the script runs now, from its PID file: name to PID.</summary>
    public Dictionary<string, int> Pids()
    {
        var path = Path.Combine(RunDirectory, "pids");
        var pids = File.Exists(path)
            ? File.ReadAllLines(path).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2).ToDictionary(p => p[1], p => int.Parse(p[0], CultureInfo.InvariantCulture))
            : [];
        lock (_seen)
        {
            _seen.UnionWith(pids.Values);
        }

        return pids;
    }

    /// <summary>Every PID the script has run (as far as its PID file told), and the script's own.</summary>
    public IReadOnlyCollection<int> AllPids()
    {
        Pids();
        lock (_seen)
        {
            return [.. _seen, _script.Id];
        }
    }

    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_script.HasExited)
            {
                throw new InvalidOperationException($"run-cluster.sh exited ({_script.ExitCode}) before \"{text}\":\n{Output}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"run-cluster.sh did not say \"{text}\" within {timeout}:\n{Output}");
            }

            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>SIGTERM to the script itself, as a service manager or <c>kill</c> sends it.</summary>
    public void Terminate() => SendSignal(_script.Id, Sigterm);

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await _script.WaitForExitAsync(limit.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Whether a process with this PID exists (and is not a zombie).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited)
            {
                return false;
            }

            var stat = File.Exists($"/proc/{pid}/stat") ? File.ReadAllText($"/proc/{pid}/stat") : string.Empty;
            var state = stat.LastIndexOf(')') is var close and > 0 && close + 2 < stat.Length ? stat[close + 2] : 'R';
            return state != 'Z';
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_script.HasExited)
        {
            Terminate();
            if (!await WaitForExitAsync(TimeSpan.FromMinutes(3)))
            {
                _script.Kill(entireProcessTree: false);
            }
        }

        // Whatever the script left behind, by the PIDs it recorded: never a search by name.
        foreach (var pid in AllPids().Where(IsRunning))
        {
            Kill(pid);
        }

        _script.Dispose();
        try
        {
            Directory.Delete(RunDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int[] FreePorts(int count)
    {
        // Hold all listeners open until every port is known, so that they are distinct.
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    // DllImport rather than LibraryImport: blittable arguments need no generated marshalling, and the project no unsafe code.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
