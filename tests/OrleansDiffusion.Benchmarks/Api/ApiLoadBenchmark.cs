using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Benchmarks.Api;

/// <summary>
/// A load tool for the whole service: starts the API (co-hosted silo, demo model) as its own process on loopback and
/// drives it over HTTP. Reports the end-to-end cost of API + cluster over the engine alone (p50/p99), cache-hit
/// latency, and the API process's resident memory through a sustained load.
/// </summary>
public static class ApiLoadBenchmark
{
    private const int Size = 64;
    private const int Steps = 4;

    public static async Task<int> RunAsync(int sustainSeconds, TextWriter output)
    {
        var root = Path.Combine(Path.GetTempPath(), "od-apibench-" + Guid.NewGuid().ToString("N")[..8]);
        var port = FreePort();
        using var api = StartApi(root, port);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitReadyAsync(http, api);
            var engine = EngineBaseline(Path.Combine(root, "demo-model"), 40);

            // Warm-up, then end to end: submit and poll until done, distinct seeds so nothing comes from the cache.
            for (var i = 0; i < 5; i++)
            {
                await RunJobAsync(http, seed: 1_000_000 + i);
            }

            var endToEnd = new List<double>();
            for (var i = 0; i < 40; i++)
            {
                endToEnd.Add(await RunJobAsync(http, seed: i));
            }

            var hits = new List<double>();
            for (var i = 0; i < 200; i++)
            {
                var started = Stopwatch.GetTimestamp();
                var response = await http.PostAsJsonAsync("/v1/generations", Body(seed: 0));
                var job = await response.Content.ReadFromJsonAsync<JsonElement>();
                hits.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (job.GetProperty("status").GetString() != "succeeded")
                {
                    throw new InvalidOperationException("A repeated request was not a cache hit.");
                }
            }

            var (memory, throughput) = await SustainAsync(http, api, TimeSpan.FromSeconds(sustainSeconds));

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"API + co-hosted silo as a separate process, demo model, {Size}x{Size}, {Steps} steps, euler, CPU"));
            output.WriteLine();
            output.WriteLine("| measure | p50 ms | p99 ms |");
            output.WriteLine("|---|---:|---:|");
            Row(output, "engine alone (DiffusionPipeline.Generate)", engine);
            Row(output, "API + cluster end to end (POST, poll GET every 5 ms)", endToEnd);
            Row(output, "cache hit (POST answered succeeded)", hits);
            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"End-to-end overhead over the engine at p50: {Percentile(endToEnd, 50) - Percentile(engine, 50):F1} ms (x{Percentile(endToEnd, 50) / Percentile(engine, 50):F1})."));
            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Sustained load: 4 clients for {sustainSeconds} s, {throughput:F1} jobs/s; API process resident memory (MiB):"));
            output.WriteLine();
            output.WriteLine("| at | RSS MiB |");
            output.WriteLine("|---|---:|");
            foreach (var (at, rss) in memory)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {at:F0} s | {rss:F0} |"));
            }

            var half = memory.Count / 2;
            var early = memory.Take(Math.Max(1, half)).Average(m => m.Rss);
            var late = memory.Skip(half).Average(m => m.Rss);
            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Mean RSS first half {early:F0} MiB, second half {late:F0} MiB (x{late / early:F2})."));
            return 0;
        }
        finally
        {
            if (!api.HasExited)
            {
                api.Kill(entireProcessTree: true);
                await api.WaitForExitAsync();
            }

            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static object Body(long seed) => new { prompt = "a lighthouse at dusk", steps = Steps, width = Size, height = Size, seed, scheduler = "euler" };

    private static async Task<double> RunJobAsync(HttpClient http, long seed)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await http.PostAsJsonAsync("/v1/generations", Body(seed));
        response.EnsureSuccessStatusCode();
        var location = response.Headers.Location!.ToString();
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location);
            var status = job.GetProperty("status").GetString();
            if (status == "succeeded")
            {
                return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            if (status is "failed" or "cancelled")
            {
                throw new InvalidOperationException($"Job {location} {status}.");
            }

            await Task.Delay(5);
        }
    }

    private static async Task<(List<(double At, double Rss)> Memory, double Throughput)> SustainAsync(HttpClient http, Process api, TimeSpan duration)
    {
        var memory = new List<(double, double)>();
        var done = 0;
        var seed = 10_000_000L;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);
        var clients = Enumerable.Range(0, 4).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                await RunJobAsync(http, Interlocked.Increment(ref seed));
                Interlocked.Increment(ref done);
            }
        }).ToList();
        var period = TimeSpan.FromSeconds(Math.Max(1, duration.TotalSeconds / 12));
        while (!stop.IsCancellationRequested)
        {
            memory.Add((clock.Elapsed.TotalSeconds, ResidentMiB(api)));
            try
            {
                await Task.Delay(period, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await Task.WhenAll(clients);
        memory.Add((clock.Elapsed.TotalSeconds, ResidentMiB(api)));
        return (memory, done / clock.Elapsed.TotalSeconds);
    }

    private static List<double> EngineBaseline(string modelDirectory, int runs)
    {
        using var model = DiffusionModel.Load(modelDirectory, new ExecutionOptions { IntraOpThreads = 1 });
        var pipeline = new DiffusionPipeline(model);
        var request = new GenerationRequest { Prompt = "a lighthouse at dusk", Steps = Steps, Width = Size, Height = Size, Scheduler = SchedulerKind.Euler };
        for (var i = 0; i < 5; i++)
        {
            pipeline.Generate(request with { Seed = 1_000_000 + i });
        }

        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            pipeline.Generate(request with { Seed = i });
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return times;
    }

    private static Process StartApi(string root, int port)
    {
        var repository = FindRepositoryRoot();
        var siloPort = FreePort().ToString(CultureInfo.InvariantCulture);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Directory.CreateDirectory(root);
        foreach (var arg in new[]
        {
            "run", "-c", "Release", "--project", Path.Combine(repository, "client-api"), "--no-launch-profile", "--",
            "--urls", $"http://127.0.0.1:{port}",
            "--Diffusion:Cluster:SiloPort", siloPort, "--Diffusion:Cluster:PrimarySiloPort", siloPort,
            "--Diffusion:Cluster:GatewayPort", FreePort().ToString(CultureInfo.InvariantCulture),
            "--Diffusion:DemoModelDirectory", Path.Combine(root, "demo-model"),
            "--Diffusion:ImageStore:LocalRoot", Path.Combine(root, "images"),
            "--Diffusion:PollInterval", "00:00:00.005",
            "--Diffusion:GrainIdleTimeout", "00:00:15",
            "--Diffusion:IntraOpThreads", "1",
            "--Diffusion:Api:RequestsPerMinute", "1000000",
            "--Diffusion:Api:MaxConcurrentJobsPerKey", "64",
            "--Logging:LogLevel:Default", "Warning",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitReadyAsync(HttpClient http, Process api)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (DateTime.UtcNow < deadline)
        {
            if (api.HasExited)
            {
                throw new InvalidOperationException($"The API exited with {api.ExitCode} before it was ready.");
            }

            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("The API did not become ready.");
    }

    // The API's own process: `dotnet run` starts it as a child, so read the largest RSS in the process tree.
    private static double ResidentMiB(Process root)
    {
        var pids = new List<int> { root.Id };
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid) && ParentOf(pid) == root.Id)
            {
                pids.Add(pid);
            }
        }

        return pids.Max(RssOf) / 1024.0;
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("PPid:", StringComparison.Ordinal));
            return line is null ? null : int.Parse(line[5..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static double RssOf(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
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

    private static void Row(TextWriter output, string name, List<double> values) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Percentile(values, 50):F1} | {Percentile(values, 99):F1} |"));

    private static double Percentile(List<double> values, double percentile)
    {
        var sorted = values.Order().ToList();
        var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
