using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>
/// One Azurite process (blob, queue and table) on free loopback ports with its own data folder. <see cref="StopAsync"/>
/// and <see cref="StartAsync"/> take it down and bring it back on the same ports and data, which is how tests simulate a
/// storage outage. Disposing kills exactly the process this instance started and deletes its data folder.
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>The emulator's well-known development account.</summary>
    public const string AccountName = "devstoreaccount1";

    /// <summary>The emulator's well-known development account key (public, documented by Microsoft).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private const string Host = "127.0.0.1";
    private const int StartAttempts = 3;
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly string _testsFolder;
    private readonly OutputTail _output = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Process? _process;

    private AzuriteServer(string testsFolder, int blobPort, int queuePort, int tablePort, bool inMemoryPersistence)
    {
        _testsFolder = testsFolder;
        InMemoryPersistence = inMemoryPersistence;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
        DataFolder = Path.Combine(Path.GetTempPath(), "od-azurite-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(DataFolder);
    }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    /// <summary>Azurite's workspace; it survives <see cref="StopAsync"/> and is deleted on dispose.</summary>
    public string DataFolder { get; }

    /// <summary>
    /// Azurite keeps its data in its own memory only (<c>--inMemoryPersistence</c>): no disk writes, but a stop loses
    /// the data, so <see cref="StopAsync"/> and <see cref="StartAsync"/> do not simulate an outage then.
    /// </summary>
    public bool InMemoryPersistence { get; }

    /// <summary>The PID of the running Azurite process, or null while stopped.</summary>
    public int? ProcessId => _process?.Id;

    public bool IsRunning => _process is { HasExited: false };

    public Uri BlobEndpoint => new($"http://{Host}:{BlobPort}/{AccountName}");

    public Uri QueueEndpoint => new($"http://{Host}:{QueuePort}/{AccountName}");

    public Uri TableEndpoint => new($"http://{Host}:{TablePort}/{AccountName}");

    /// <summary>A shared-key connection string with explicit endpoints: SAS URLs can be signed with it.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint={BlobEndpoint};QueueEndpoint={QueueEndpoint};TableEndpoint={TableEndpoint};";

    /// <summary>
    /// Installs Azurite into <c>tests/node_modules</c> if it is missing, then starts a new server on free ports.
    /// Fails with a clear message when Node.js is not installed.
    /// </summary>
    public static Task<AzuriteServer> StartNewAsync(CancellationToken cancellationToken) =>
        StartNewAsync(inMemoryPersistence: false, cancellationToken);

    /// <summary>As <see cref="StartNewAsync(CancellationToken)"/>, optionally with <see cref="InMemoryPersistence"/>.</summary>
    public static async Task<AzuriteServer> StartNewAsync(bool inMemoryPersistence, CancellationToken cancellationToken)
    {
        var testsFolder = AzuriteInstallation.FindTestsFolder();
        await AzuriteInstallation.EnsureInstalledAsync(testsFolder, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            // A free port can be taken by another process between the probe and Azurite's bind: try new ports then.
            var ports = FreePorts(3);
            var server = new AzuriteServer(testsFolder, ports[0], ports[1], ports[2], inMemoryPersistence);
            try
            {
                await server.StartAsync(cancellationToken);
                return server;
            }
            catch (AzuriteStartException) when (attempt < StartAttempts)
            {
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Starts Azurite (again) on this server's ports and data folder; returns once all three ports accept connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (IsRunning)
            {
                return;
            }

            _process?.Dispose();
            _process = StartProcess();
            await WaitUntilReadyAsync(_process, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Stops Azurite gracefully (SIGTERM, so it saves its metadata) and waits for it to exit, killing it after
    /// <see cref="StopTimeout"/>. The ports refuse connections once this returns.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_process is not { } process)
            {
                return;
            }

            if (!process.HasExited)
            {
                ProcessSignals.Terminate(process);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(StopTimeout);
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    process.Kill(entireProcessTree: false);
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }

            process.Dispose();
            _process = null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_process is { } process)
            {
                // Only the process this instance started, by its handle: never a search by name.
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: false);
                    await process.WaitForExitAsync();
                }

                process.Dispose();
                _process = null;
            }

            try
            {
                Directory.Delete(DataFolder, recursive: true);
            }
            catch (IOException)
            {
                // Left for the OS's temp cleaning.
            }
        }
        finally
        {
            _gate.Release();
        }

        _gate.Dispose();
    }

    /// <summary>Azurite's recent console output, for failure messages.</summary>
    public string RecentOutput() => _output.ToString();

    private Process StartProcess()
    {
        var startInfo = new ProcessStartInfo(OperatingSystem.IsWindows() ? "node.exe" : "node")
        {
            WorkingDirectory = _testsFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] arguments =
        [
            AzuriteInstallation.ScriptPath,
            "--silent",
            // Azurite 3.37 sends telemetry by default; offline, that holds its exit after SIGTERM for about two minutes.
            "--disableTelemetry",
            "--blobHost", Host, "--blobPort", Port(BlobPort),
            "--queueHost", Host, "--queuePort", Port(QueuePort),
            "--tableHost", Host, "--tablePort", Port(TablePort),
            // Azure.Storage.Blobs 12.30 sends a newer API version than Azurite 3.37 knows.
            "--skipApiVersionCheck",
            "--loose",
        ];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Azurite refuses --location with --inMemoryPersistence.
        string[] persistence = InMemoryPersistence ? ["--inMemoryPersistence"] : ["--location", DataFolder];
        foreach (var argument in persistence)
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException(
                "Node.js ('node') was not found on PATH. The storage and cluster tests run Azurite, the Azure Storage " +
                "emulator, under Node.js 20+: install Node.js and run the tests again.", ex);
        }

        process.OutputDataReceived += (_, e) => _output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _output.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitUntilReadyAsync(Process process, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        foreach (var port in new[] { BlobPort, QueuePort, TablePort })
        {
            while (!await AcceptsAsync(port, cancellationToken))
            {
                if (process.HasExited)
                {
                    throw new AzuriteStartException(
                        $"Azurite exited with code {process.ExitCode} before listening on port {port}:{Environment.NewLine}{RecentOutput()}");
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new AzuriteStartException(
                        $"Azurite (PID {process.Id}) did not listen on port {port} within {ReadyTimeout.TotalSeconds} s:" +
                        $"{Environment.NewLine}{RecentOutput()}");
                }

                await Task.Delay(100, cancellationToken);
            }
        }
    }

    private static async Task<bool> AcceptsAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, attempt.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private static int[] FreePorts(int count)
    {
        // Hold all listeners open until every port is known, so the three are distinct.
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    private static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
