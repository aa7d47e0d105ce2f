using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace OrleansDiffusion.Api.Tests.Tenancy;

/// <summary>
/// The API as its own process, started as an operator would start it (<c>dotnet OrleansDiffusion.Api.dll</c>, the build
/// this test assembly references), listening on a real loopback port with a co-hosted silo, the demo model and state
/// in memory. Settings are given on the command line. Killed, with its folders deleted, on dispose.
/// </summary>
public sealed class ApiServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _root;

    private ApiServerProcess(Process process, string root, Uri baseAddress)
    {
        _process = process;
        _root = root;
        BaseAddress = baseAddress;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri BaseAddress { get; }

    /// <summary>What the process wrote so far (its log), for failure messages.</summary>
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

    /// <summary>Starts the API and waits until <c>/health/ready</c> answers 200.</summary>
    public static async Task<ApiServerProcess> StartAsync(IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var root = Path.Combine(Path.GetTempPath(), "od-apiproc-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(root);
        var port = KestrelApi.FreePort();
        var silo = KestrelApi.FreePort().ToString(CultureInfo.InvariantCulture);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        List<string> arguments =
        [
            Path.Combine(AppContext.BaseDirectory, "OrleansDiffusion.Api.dll"),
            "--urls", $"http://127.0.0.1:{port}",
            "--Diffusion:Cluster:SiloPort", silo, "--Diffusion:Cluster:PrimarySiloPort", silo,
            "--Diffusion:Cluster:GatewayPort", KestrelApi.FreePort().ToString(CultureInfo.InvariantCulture),
            "--Diffusion:DemoModelDirectory", Path.Combine(root, "demo-model"),
            "--Diffusion:ImageStore:LocalRoot", Path.Combine(root, "images"),
            "--Diffusion:PollInterval", "00:00:00.050",
            "--Logging:LogLevel:Default", "Warning",

            // The web page as a published API serves it (static web assets are a development-time feature).
            "--webroot", Path.Combine(RepositoryRoot(), "client-api", "wwwroot"),
        ];
        foreach (var (key, value) in settings)
        {
            arguments.AddRange(["--" + key, value]);
        }

        arguments.ForEach(info.ArgumentList.Add);
        var server = new ApiServerProcess(Process.Start(info)!, root, new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            await server.WaitUntilReadyAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A client of this API with <paramref name="key"/> as its bearer token (none for null).</summary>
    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by the dying process: the temporary folder is cleaned up by the system.
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The API process exited with {_process.ExitCode}:{Environment.NewLine}{Output}");
            }

            try
            {
                using var ready = await http.GetAsync("/health/ready", cancellationToken);
                if (ready.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Not answering yet.
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"The API process was not ready within {StartTimeout}:{Environment.NewLine}{Output}");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OrleansDiffusion.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("OrleansDiffusion.sln not found above the test assembly.");
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
}
