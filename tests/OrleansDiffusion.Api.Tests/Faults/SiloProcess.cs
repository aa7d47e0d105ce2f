using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using OrleansDiffusion.Cluster.Tests.Azurite;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>
/// One silo as its own process: the silo executable (<c>dotnet OrleansDiffusion.Silo.dll</c>, built with this test
/// project) started with <c>Diffusion:*</c> settings on its command line, as <c>deploy/local/run-cluster.sh</c> starts
/// it. <see cref="Kill"/> kills it (SIGKILL): no graceful leave, no word to the cluster, as a crash or an OOM kill.
/// Disposing stops exactly this process.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromMinutes(3);
    private readonly Process _process;
    private readonly OutputTail _output = new(80);
    private bool _frozen;

    private SiloProcess(Process process, int httpPort)
    {
        _process = process;
        HttpPort = httpPort;
        _process.OutputDataReceived += (_, e) => _output.Add(e.Data);
        _process.ErrorDataReceived += (_, e) => _output.Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int HttpPort { get; }

    public int SiloPort { get; private init; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a silo with these settings and returns once it reports ready (it has joined the cluster).</summary>
    public static async Task<SiloProcess> StartAsync(string workingDirectory, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var httpPort = ApiFactory.FreePort();
        var siloPort = ApiFactory.FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        List<string> arguments =
        [
            SiloAssembly(),
            "--urls", $"http://127.0.0.1:{httpPort}",
            "--Diffusion:Cluster:SiloPort", Port(siloPort),
            "--Diffusion:Cluster:GatewayPort", Port(ApiFactory.FreePort()),
            "--Diffusion:Cluster:Dashboard", "false",
            "--Logging:LogLevel:Default", "Warning",
        ];
        foreach (var (key, value) in settings)
        {
            arguments.AddRange(["--" + key, value]);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var silo = new SiloProcess(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start."), httpPort) { SiloPort = siloPort };
        try
        {
            await silo.WaitUntilReadyAsync(cancellationToken);
            return silo;
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the process outright (SIGKILL) and waits for it to be gone.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            _process.WaitForExit();
        }
    }

    /// <summary>
    /// Freezes the process (SIGSTOP): its connections stay open but nothing answers, as a silo whose machine hangs or
    /// drops off the network. Calls to it wait for an answer that never comes until the cluster declares it dead.
    /// </summary>
    public void Freeze()
    {
        _frozen = true;
        if (SendSignal(_process.Id, SigStop) != 0)
        {
            throw new InvalidOperationException($"SIGSTOP to {_process.Id} failed.");
        }
    }

    public string RecentOutput() => _output.ToString();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited && _frozen)
        {
            Kill(); // a frozen process cannot stop by itself
        }

        if (!_process.HasExited)
        {
            // Only this process, by its handle: asked to stop, then killed if it takes too long.
            ProcessSignals.Terminate(_process);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: false);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }

        _process.Dispose();
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The silo exited with code {_process.ExitCode} before it was ready:\n{RecentOutput()}");
            }

            try
            {
                using var ready = await http.GetAsync($"http://127.0.0.1:{HttpPort}/health/ready", cancellationToken);
                if (ready.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The silo was not ready within {ReadyTimeout}:\n{RecentOutput()}");
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>The silo executable built beside this test project (same configuration and framework).</summary>
    private static string SiloAssembly()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OrleansDiffusion.sln")))
        {
            root = root.Parent;
        }

        var configuration = typeof(SiloProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(AppContext.BaseDirectory).Name;
        var assembly = Path.Combine(root?.FullName ?? throw new InvalidOperationException("OrleansDiffusion.sln not found."), "silo", "bin", configuration, framework, "OrleansDiffusion.Silo.dll");
        return File.Exists(assembly) ? assembly : throw new FileNotFoundException("The silo is not built (the test project references it).", assembly);
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private const int SigStop = 19;

    // DllImport rather than LibraryImport: blittable arguments need no generated marshalling, and the project no unsafe code.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
