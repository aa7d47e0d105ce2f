using System.Diagnostics;
using System.Globalization;
using OrleansDiffusion.Cluster.Tests.Azurite;

namespace OrleansDiffusion.Benchmarks.Api;

/// <summary>
/// The API (co-hosted silo, demo model) built in Release and started as its own process (<c>dotnet
/// OrleansDiffusion.Api.dll</c>, so the process started is the API itself: its RSS and its diagnostics port). Disposing
/// kills exactly that process.
/// </summary>
internal sealed class ApiProcess : IAsyncDisposable
{

    private readonly Process _process;
    private readonly OutputTail _output = new();

    private ApiProcess(Process process)
    {
        StartedTimestamp = Stopwatch.GetTimestamp();
        _process = process;
        _process.OutputDataReceived += (_, e) => _output.Add(e.Data);
        _process.ErrorDataReceived += (_, e) => _output.Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    /// <summary>When the process was started (<see cref="Stopwatch.GetTimestamp"/>), for cold-start timings.</summary>
    public long StartedTimestamp { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Builds client-api (Release) and starts it on <paramref name="port"/> with its files under <paramref name="root"/>;
    /// grain state in Azure storage when <paramref name="azureConnectionString"/> is given, else in memory. Images go to
    /// an Azure Blob container of that same account when <paramref name="imagesInAzure"/>, else to local disk under
    /// <paramref name="root"/>. <paramref name="settings"/> are configuration keys given after all of the above, so
    /// they override them.
    /// </summary>
    public static async Task<ApiProcess> StartAsync(
        string root,
        int port,
        string? azureConnectionString,
        bool imagesInAzure = false,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        if (imagesInAzure && azureConnectionString is null)
        {
            throw new ArgumentException("Images in Azure Blob need the Azure storage connection string.", nameof(imagesInAzure));
        }

        var project = Path.Combine(FindRepositoryRoot(), "client-api");
        await BuildAsync(project);

        // The same target framework folder as this benchmark's (both come from Directory.Build.props).
        var framework = new DirectoryInfo(AppContext.BaseDirectory).Name;
        var assembly = Path.Combine(project, "bin", "Release", framework, "OrleansDiffusion.Api.dll");
        var siloPort = ApiLoadBenchmark.FreePort().ToString(CultureInfo.InvariantCulture);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        List<string> arguments =
        [
            assembly,
            "--urls", $"http://127.0.0.1:{port}",
            "--Diffusion:Cluster:SiloPort", siloPort, "--Diffusion:Cluster:PrimarySiloPort", siloPort,
            "--Diffusion:Cluster:GatewayPort", ApiLoadBenchmark.FreePort().ToString(CultureInfo.InvariantCulture),
            "--Diffusion:DemoModelDirectory", Path.Combine(root, "demo-model"),
            "--Diffusion:ImageStore:LocalRoot", Path.Combine(root, "images"),
            "--Diffusion:PollInterval", "00:00:01",
            "--Diffusion:GrainIdleTimeout", "00:00:15",
            "--Diffusion:IntraOpThreads", "1",
            "--Diffusion:Api:RequestsPerMinute", "1000000",
            "--Diffusion:Api:ReadsPerMinute", "1000000", // the clients poll their jobs
            "--Diffusion:Api:MaxConcurrentUnitsAnonymous", "64", // a job here costs 1 unit
            "--Logging:LogLevel:Default", "Warning",
        ];
        if (azureConnectionString is not null)
        {
            arguments.AddRange(["--Diffusion:Cluster:Storage", "AzureStorage", "--Diffusion:Cluster:ConnectionString", azureConnectionString]);
        }

        if (imagesInAzure)
        {
            arguments.AddRange(["--Diffusion:ImageStore:Provider", "AzureBlob", "--Diffusion:ImageStore:ConnectionString", azureConnectionString!]);
        }

        // The command line's last value of a key wins.
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            arguments.AddRange(["--" + key, value]);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return new ApiProcess(Process.Start(info)!);
    }

    /// <summary>The process's resident set, from <c>/proc/PID/status</c>.</summary>
    public double ResidentMiB()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
    }

    public string RecentOutput() => _output.ToString();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task BuildAsync(string project)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "build", "-c", "Release", project, "-v", "quiet", "-nologo" })
        {
            info.ArgumentList.Add(argument);
        }

        using var build = Process.Start(info)!;
        var output = build.StandardOutput.ReadToEndAsync();
        var errors = build.StandardError.ReadToEndAsync();
        await build.WaitForExitAsync();
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"Building {project} failed:{Environment.NewLine}{await output}{await errors}");
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "OrleansDiffusion.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Run the benchmark from the repository (OrleansDiffusion.sln not found above it).");
    }
}
