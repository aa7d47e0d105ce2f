using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Benchmarks.Api;

/// <summary>
/// A load tool for the whole service: starts the API (co-hosted silo, demo model) as its own process on loopback and
/// drives it over HTTP. Reports the end-to-end cost of API + cluster over the engine alone (p50/p99), cache-hit
/// latency, and the API process's memory through a sustained load: resident set, managed heap (from the API's own
/// GC's statistics after a full GC the benchmark asks its runtime for) and, from the API's <c>/metrics</c>, the job and
/// cache activations and the reminders its silo holds.
/// Grain state goes to Azure storage on a private Azurite by default (so that memory is not where every job is kept),
/// or with <c>--storage memory</c> to the in-memory grain storage.
/// </summary>
public static class ApiLoadBenchmark
{
    private const int Size = 64;
    private const int Steps = 4;
    private const int Clients = 4;

    // "Flat": the mean of the last quarter within this factor of the second quarter's (the first quarter is warm-up:
    // activations accumulate until the first ones reach GrainIdleTimeout), and the second half's slope adding no more
    // than that over the second half.
    private const double FlatRatio = 1.05;

    private const string Usage = "usage: api [seconds] [--storage azure|memory] [--no-full-gc]";

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        if (!TryParse(args, out var options))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var root = Path.Combine(Path.GetTempPath(), "od-apibench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        AzuriteServer? azurite = null;
        ApiProcess? api = null;
        try
        {
            if (options.AzureStorage)
            {
                // Its own Azurite on free ports, data in Azurite's memory (no disk writes), stopped at the end.
                azurite = await AzuriteServer.StartNewAsync(inMemoryPersistence: true, CancellationToken.None);
            }

            var port = FreePort();
            api = await ApiProcess.StartAsync(root, port, azurite?.ConnectionString);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitReadyAsync(http, api);
            var engine = EngineBaseline(Path.Combine(root, "demo-model"), 40);

            // Warm-up, then end to end: submit and poll until done, distinct seeds so nothing comes from the cache.
            for (var i = 0; i < 5; i++)
            {
                await RunJobAsync(http, Body(seed: 1_000_000 + i));
            }

            var endToEnd = new List<double>();
            for (var i = 0; i < 40; i++)
            {
                endToEnd.Add(await RunJobAsync(http, Body(seed: i)));
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

            var (samples, jobs, throughput, slowest) = await SustainAsync(http, api, options);

            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"API + co-hosted silo as a separate process, demo model, {Size}x{Size}, {Steps} steps, euler, CPU; grain state: {(options.AzureStorage ? "Azure storage (Azurite)" : "memory")}"));
            output.WriteLine();
            output.WriteLine("| measure | p50 ms | p99 ms |");
            output.WriteLine("|---|---:|---:|");
            Row(output, "engine alone (DiffusionPipeline.Generate)", engine);
            Row(output, "API + cluster end to end (POST, poll GET every 5 ms)", endToEnd);
            Row(output, "cache hit (POST answered succeeded)", hits);
            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"End-to-end overhead over the engine at p50: {Percentile(endToEnd, 50) - Percentile(engine, 50):F1} ms (x{Percentile(endToEnd, 50) / Percentile(engine, 50):F1})."));
            output.WriteLine();
            WriteMemory(output, options, samples, jobs, throughput, slowest);
            return 0;
        }
        catch (Exception) when (api is not null)
        {
            Console.Error.WriteLine("The API's last output lines:");
            Console.Error.WriteLine(api.RecentOutput());
            throw;
        }
        finally
        {
            if (api is not null)
            {
                await api.DisposeAsync();
            }

            if (azurite is not null)
            {
                await azurite.DisposeAsync();
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

    private static bool TryParse(string[] args, out Options options)
    {
        options = new Options(60, AzureStorage: true, FullGc: true);
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--storage" when i + 1 < args.Length && args[i + 1] is "azure" or "memory":
                    options = options with { AzureStorage = args[++i] == "azure" };
                    break;
                case "--no-full-gc":
                    options = options with { FullGc = false };
                    break;
                default:
                    if (!int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds < 8)
                    {
                        return false;
                    }

                    options = options with { Seconds = seconds };
                    break;
            }
        }

        return true;
    }

    private static void WriteMemory(TextWriter output, Options options, List<Sample> samples, long jobs, double throughput, double slowest)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Sustained load: {Clients} clients for {options.Seconds} s, {jobs} jobs, {throughput:F1} jobs/s, slowest job {slowest:F0} ms. API process memory{(options.FullGc ? "; managed heap = live bytes after a full GC the benchmark induces at each sample (after reading RSS)" : "; managed heap = bytes after the runtime's own last GC")}:"));
        output.WriteLine();
        output.WriteLine("| at s | RSS MiB | managed heap MiB | job activations | cache activations | reminders |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var s in samples)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {s.At:F0} | {s.RssMiB:F0} | {Show(s.HeapMiB)} | {Show(s.JobActivations)} | {Show(s.CacheActivations)} | {Show(s.Reminders)} |"));
        }

        output.WriteLine();
        var rss = Trend.Of(samples, s => s.RssMiB);
        var heap = Trend.Of(samples.Where(s => s.HeapMiB is not null).ToList(), s => s.HeapMiB!.Value);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Verdict: RSS {rss.Verdict} (second-half slope {rss.SlopePerMinute:+0.0;-0.0} MiB/min, last quarter {rss.LastQuarter:F0} / second quarter {rss.SecondQuarter:F0} MiB = x{rss.Ratio:F3}); " +
            $"managed heap {heap.Verdict} (second-half slope {heap.SlopePerMinute:+0.0;-0.0} MiB/min, last quarter {heap.LastQuarter:F1} / second quarter {heap.SecondQuarter:F1} MiB = x{heap.Ratio:F3}); " +
            $"flat = ratio <= x{FlatRatio:F2} and the slope adds <= {(FlatRatio - 1) * 100:F0} % of the second quarter's mean over the second half."));
    }

    private static string Show(double? value) => value is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";

    private static object Body(long seed) => new { prompt = "a lighthouse at dusk", steps = Steps, width = Size, height = Size, seed, scheduler = "euler" };

    /// <summary>Submits <paramref name="body"/> to <c>POST /v1/generations</c> and polls every 5 ms until it succeeded; its milliseconds.</summary>
    internal static async Task<double> RunJobAsync(HttpClient http, object body)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await http.PostAsJsonAsync("/v1/generations", body);
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

    private static async Task<(List<Sample> Samples, long Jobs, double Throughput, double SlowestMs)> SustainAsync(HttpClient http, ApiProcess api, Options options)
    {
        var duration = TimeSpan.FromSeconds(options.Seconds);
        var samples = new List<Sample>();
        var done = 0L;
        var slowest = 0.0;
        var slowestGate = new Lock();
        var seed = 10_000_000L;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);
        var clients = Enumerable.Range(0, Clients).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                var ms = await RunJobAsync(http, Body(Interlocked.Increment(ref seed)));
                Interlocked.Increment(ref done);
                lock (slowestGate)
                {
                    slowest = Math.Max(slowest, ms);
                }
            }
        }).ToList();

        // About 24 samples; the clients keep the load on while one is taken.
        var period = TimeSpan.FromSeconds(Math.Max(2, duration.TotalSeconds / 24));
        var next = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            samples.Add(await SampleAsync(http, api, clock.Elapsed.TotalSeconds, options.FullGc));
            next += period;
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }

        await Task.WhenAll(clients);
        var elapsed = clock.Elapsed.TotalSeconds;
        var jobs = Interlocked.Read(ref done);
        samples.Add(await SampleAsync(http, api, elapsed, options.FullGc));
        return (samples, jobs, jobs / elapsed, slowest);
    }

    private static async Task<Sample> SampleAsync(HttpClient http, ApiProcess api, double at, bool fullGc)
    {
        var rss = api.ResidentMiB();
        var live = fullGc ? await InduceFullGcAsync(api.Id) : null;
        if (fullGc && live is null)
        {
            Console.Error.WriteLine($"At {at:F0} s no induced GC was seen: the heap shown is the one after the runtime's last GC.");
        }
        var metrics = await ScrapeAsync(http);
        var heap = live ?? (metrics.Sum("dotnet_gc_last_collection_heap_size_bytes") is { } size
            ? size - (metrics.Sum("dotnet_gc_last_collection_heap_fragmentation_size_bytes") ?? 0)
            : null);
        return new Sample(
            at,
            rss,
            heap / (1024.0 * 1024.0),
            metrics.Sum("orleans_catalog_activations", "grain_type=\"generationjob\""),
            metrics.Sum("orleans_catalog_activations", "grain_type=\"resultcache\""),
            metrics.Sum("orleans_reminders_active"));
    }

    /// <summary>
    /// Asks the API's runtime for a full blocking GC through its diagnostics port, as dotnet-gcdump does (an EventPipe
    /// session on the runtime provider with the GCHeapCollect keyword), and returns the bytes that survived it (the
    /// live managed heap, from the GC's own heap statistics event), or null when none came within 15 s.
    /// </summary>
    private static async Task<double?> InduceFullGcAsync(int pid)
    {
        const long GcKeyword = 0x1;
        const long GcHeapCollectKeyword = 0x800000;
        using var session = new DiagnosticsClient(pid).StartEventPipeSession(
            new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, GcKeyword | GcHeapCollectKeyword),
            requestRundown: false,
            circularBufferMB: 16);
        var live = new TaskCompletionSource<double?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(() =>
        {
            using var source = new EventPipeEventSource(session.EventStream);
            var induced = false;
            source.Clr.GCStart += e => induced |= e.Depth == 2 && e.Reason == GCReason.Induced;
            source.Clr.GCHeapStats += e =>
            {
                if (induced)
                {
                    // For a gen2 GC, what each generation (and the large and pinned object heaps) kept.
                    live.TrySetResult(e.TotalPromotedSize0 + e.TotalPromotedSize1 + e.TotalPromotedSize2 + e.TotalPromotedSize3 + e.TotalPromotedSize4);
                }
            };
            source.Process();
        });
        var result = await live.Task.WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null, TaskScheduler.Default);
        await session.StopAsync(CancellationToken.None);
        await reading;
        return result;
    }

    private static async Task<PrometheusText> ScrapeAsync(HttpClient http) => new(await http.GetStringAsync("/metrics"));

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

    internal static async Task WaitReadyAsync(HttpClient http, ApiProcess api)
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

    private static void Row(TextWriter output, string name, List<double> values) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Percentile(values, 50):F1} | {Percentile(values, 99):F1} |"));

    internal static double Percentile(List<double> values, double percentile)
    {
        var sorted = values.Order().ToList();
        var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed record Options(int Seconds, bool AzureStorage, bool FullGc);

    private sealed record Sample(double At, double RssMiB, double? HeapMiB, double? JobActivations, double? CacheActivations, double? Reminders);

    /// <summary>A series' second-half least-squares slope and its last-quarter mean over its second-quarter mean.</summary>
    private sealed record Trend(double SlopePerMinute, double SecondQuarter, double LastQuarter, double SecondHalfMinutes)
    {
        public double Ratio => SecondQuarter > 0 ? LastQuarter / SecondQuarter : double.NaN;

        public string Verdict =>
            double.IsNaN(Ratio) || double.IsNaN(SlopePerMinute) ? "not measured"
            : Ratio <= FlatRatio && SlopePerMinute * SecondHalfMinutes <= (FlatRatio - 1) * SecondQuarter ? "FLAT"
            : "GROWING";

        public static Trend Of(List<Sample> samples, Func<Sample, double> value)
        {
            if (samples.Count < 4)
            {
                return new Trend(double.NaN, double.NaN, double.NaN, double.NaN);
            }

            var end = samples[^1].At;
            var secondHalf = samples.Where(s => s.At >= end / 2).ToList();
            var meanT = secondHalf.Average(s => s.At);
            var meanV = secondHalf.Average(value);
            var covariance = secondHalf.Sum(s => (s.At - meanT) * (value(s) - meanV));
            var variance = secondHalf.Sum(s => (s.At - meanT) * (s.At - meanT));
            var slope = variance > 0 ? covariance / variance * 60 : double.NaN;
            return new Trend(
                slope,
                MeanOrNaN(samples.Where(s => s.At >= end / 4 && s.At < end / 2).Select(value)),
                MeanOrNaN(samples.Where(s => s.At >= end * 3 / 4).Select(value)),
                end / 2 / 60);
        }

        private static double MeanOrNaN(IEnumerable<double> values)
        {
            var list = values.ToList();
            return list.Count == 0 ? double.NaN : list.Average();
        }
    }

    /// <summary>Sums of Prometheus text-format samples by metric name and an optional label matcher.</summary>
    private sealed class PrometheusText(string text)
    {
        private readonly string[] _lines = text.Split('\n');

        public double? Sum(string name, string? label = null)
        {
            double? sum = null;
            foreach (var line in _lines)
            {
                if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length <= name.Length || line[name.Length] is not ('{' or ' '))
                {
                    continue;
                }

                if (label is not null && !line.Contains(label, StringComparison.Ordinal))
                {
                    continue;
                }

                // name{labels} value [timestamp]
                var afterLabels = line.IndexOf('}', StringComparison.Ordinal) is var close and >= 0 ? close + 1 : name.Length;
                var value = line[afterLabels..].Trim().Split(' ')[0];
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
                {
                    sum = (sum ?? 0) + parsed;
                }
            }

            return sum;
        }
    }
}
