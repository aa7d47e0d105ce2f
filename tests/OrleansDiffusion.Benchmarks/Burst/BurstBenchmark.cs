using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.Benchmarks.Api;
using OrleansDiffusion.Cluster.Tests.Azurite;

namespace OrleansDiffusion.Benchmarks.Burst;

/// <summary>
/// What a burst of distinct jobs costs in durable storage, and how fast the service accepts and drains it. Starts its
/// own Azurite (in memory), a <see cref="CountingProxy"/> in front of each of its ports, and the API (co-hosted silo,
/// demo model) as its own process with grain state and images in Azure storage through the proxies. After warm-up
/// jobs, <c>clients</c> concurrent clients submit <c>jobs</c> distinct 64x64 1-step Euler jobs through
/// <c>POST /v1/generations</c> as fast as they can; each then polls its own jobs with <c>GET /v1/generations/{id}</c>
/// every 500 ms, oldest first and stopping at the first unfinished one (jobs finish about in order, so the polls stay
/// few and the API's time goes to the burst). Reports accept latency, the drain rate from the first submit to the last
/// <c>completed_at</c>, and the storage requests and bytes written per job over the whole burst and over its submit
/// phase alone. The queue and quota limits are lifted to hold the whole burst, and grains keep the service's default
/// idle timeout (2 minutes, not the api benchmark's 15 s) so that jobs waiting in the backlog are not deactivated and
/// read back because of the benchmark's own setting.
/// </summary>
public static class BurstBenchmark
{
    private const int Size = 64;
    private const int Steps = 1;
    private const int WarmUpJobs = 5;
    private const int EdgeAccepts = 300;
    private const double Kilobyte = 1024;
    private const string Usage = "usage: burst [jobs] [--clients N]";
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(30);

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        if (!TryParse(args, out var options))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var root = Path.Combine(Path.GetTempPath(), "od-burstbench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        AzuriteServer? azurite = null;
        var proxies = new List<CountingProxy>();
        ApiProcess? api = null;
        try
        {
            azurite = await AzuriteServer.StartNewAsync(inMemoryPersistence: true, CancellationToken.None);
            var counters = new StorageCounters();
            var blob = CountingProxy.Start(StorageService.Blob, azurite.BlobPort, counters);
            proxies.Add(blob);
            var queue = CountingProxy.Start(StorageService.Queue, azurite.QueuePort, counters);
            proxies.Add(queue);
            var table = CountingProxy.Start(StorageService.Table, azurite.TablePort, counters);
            proxies.Add(table);

            var port = ApiLoadBenchmark.FreePort();
            var limit = (options.Jobs + WarmUpJobs + 100).ToString(CultureInfo.InvariantCulture);
            api = await ApiProcess.StartAsync(root, port, ConnectionString(blob.Port, queue.Port, table.Port), imagesInAzure: true, new Dictionary<string, string>
            {
                ["Diffusion:MaxQueueLength"] = (4 * (options.Jobs + WarmUpJobs + 100)).ToString(CultureInfo.InvariantCulture), // each of the 4 partitions may hold all
                ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = limit, // a job here costs 1 unit
                ["Diffusion:GrainIdleTimeout"] = "00:02:00",
            });
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await ApiLoadBenchmark.WaitReadyAsync(http, api);
            for (var i = 0; i < WarmUpJobs; i++)
            {
                await ApiLoadBenchmark.RunJobAsync(http, Body(seed: 1_000_000 + i));
            }

            var result = await new BurstRun(http, options, counters).RunAsync();
            Write(output, options, result);
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

            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
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
        options = new Options(1500, 16);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--clients" && i + 1 < args.Length && TryPositive(args[++i], out var clients))
            {
                options = options with { Clients = clients };
            }
            else if (TryPositive(args[i], out var jobs))
            {
                options = options with { Jobs = jobs };
            }
            else
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryPositive(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    /// <summary>Azurite's account and key with the proxies' endpoints.</summary>
    private static string ConnectionString(int blobPort, int queuePort, int tablePort) =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteServer.AccountName};AccountKey={AzuriteServer.AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/{AzuriteServer.AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{queuePort}/{AzuriteServer.AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{tablePort}/{AzuriteServer.AccountName};";

    private static object Body(long seed) => new { prompt = "a lighthouse at dusk", steps = Steps, width = Size, height = Size, seed, scheduler = "euler" };

    private static void Write(TextWriter output, Options options, BurstResult result)
    {
        var jobs = options.Jobs;
        var accepts = result.Accepts.OrderBy(a => a.StartedMs).Select(a => a.LatencyMs).ToList();
        var edge = Math.Min(EdgeAccepts, Math.Max(1, jobs / 2));
        var firstP90 = ApiLoadBenchmark.Percentile(accepts[..edge], 90);
        var lastP90 = ApiLoadBenchmark.Percentile(accepts[^edge..], 90);
        var drainSeconds = (result.LastCompletedAt - result.FirstSubmitAt).TotalSeconds;
        var drainRate = jobs / drainSeconds;
        var burst = result.AfterDrain.Minus(result.Before);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Burst: {jobs} distinct jobs ({Size}x{Size}, {Steps} step, euler) from {options.Clients} clients through POST /v1/generations; API + co-hosted silo as a separate process, demo model, CPU; grain state and images in Azure storage (Azurite) behind counting proxies; counts after {WarmUpJobs} warm-up jobs; 1 KB = 1024 bytes"));
        output.WriteLine();
        Line(output, "jobs", jobs);
        Line(output, "clients", options.Clients);
        Line(output, "accept p50 ms", ApiLoadBenchmark.Percentile(accepts, 50));
        Line(output, "accept p90 ms", ApiLoadBenchmark.Percentile(accepts, 90));
        Line(output, "accept p99 ms", ApiLoadBenchmark.Percentile(accepts, 99));
        Line(output, $"accept p90 first {edge} ms", firstP90);
        Line(output, $"accept p90 last {edge} ms", lastP90);
        Line(output, $"accept p90 last {edge} / first {edge}", lastP90 / firstP90);
        Line(output, "submit phase s (first submit to last accept)", result.SubmitSeconds);
        Line(output, "drain s (first submit to last completed_at)", drainSeconds);
        Line(output, "drain jobs/s", drainRate);
        output.WriteLine();
        WriteCounts(output, "first submit to last completion", burst, jobs);
        output.WriteLine();
        WriteCounts(output, "submit phase only (first submit to last accept)", result.AfterSubmit.Minus(result.Before), jobs);
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"burst: {jobs} jobs, {(double)burst.TotalRequests / jobs:F1} storage requests/job, {burst.WriteBytesTo(StorageService.Blob) / Kilobyte / jobs:F0} KB blob writes/job, accept p90 {firstP90:F0} ms (first {edge}) / {lastP90:F0} ms (last {edge}), drain {drainRate:F1} jobs/s"));
    }

    private static void WriteCounts(TextWriter output, string window, StorageCounts counts, int jobs)
    {
        output.WriteLine($"storage, {window}:");
        Line(output, "  requests", counts.TotalRequests);
        Line(output, "  requests/job", (double)counts.TotalRequests / jobs);
        foreach (var service in Enum.GetValues<StorageService>())
        {
            var name = service.ToString().ToLowerInvariant();
            Line(output, $"  {name} requests/job", (double)counts.RequestsTo(service) / jobs);
            foreach (var (key, count) in counts.Requests.Where(p => p.Key.Service == service).OrderBy(p => p.Key.Method, StringComparer.Ordinal))
            {
                Line(output, $"  {name} {key.Method}/job", (double)count / jobs);
            }
        }

        foreach (var service in new[] { StorageService.Blob, StorageService.Table })
        {
            var name = service.ToString().ToLowerInvariant();
            var bytes = counts.WriteBytesTo(service);
            Line(output, $"  {name} bytes written", bytes);
            Line(output, $"  {name} bytes written/job", (double)bytes / jobs);
            Line(output, $"  {name} KB written/job", bytes / Kilobyte / jobs);
        }
    }

    private static void Line(TextWriter output, string name, double value) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {value:0.##}"));

    private sealed record Options(int Jobs, int Clients);

    private sealed record Accept(double StartedMs, double LatencyMs);

    private sealed record BurstResult(
        IReadOnlyList<Accept> Accepts,
        DateTimeOffset FirstSubmitAt,
        DateTimeOffset LastCompletedAt,
        double SubmitSeconds,
        StorageCounts Before,
        StorageCounts AfterSubmit,
        StorageCounts AfterDrain);

    /// <summary>One burst: the clients' shared job counter, their accept times, and the counter snapshots.</summary>
    private sealed class BurstRun(HttpClient http, Options options, StorageCounters counters)
    {
        private readonly Accept[] _accepts = new Accept[options.Jobs];
        private readonly Stopwatch _clock = new();
        private int _next = -1;
        private int _clientsSubmitted;
        private StorageCounts? _afterSubmit;
        private double _submitSeconds;

        public async Task<BurstResult> RunAsync()
        {
            var before = counters.Snapshot();
            var firstSubmitAt = DateTimeOffset.UtcNow;
            _clock.Start();
            var clients = Enumerable.Range(0, options.Clients).Select(_ => Task.Run(ClientAsync)).ToList();
            var completed = (await Task.WhenAll(clients)).SelectMany(c => c).ToList();
            var afterDrain = counters.Snapshot();
            return new BurstResult(_accepts, firstSubmitAt, completed.Max(), _submitSeconds, before, _afterSubmit!, afterDrain);
        }

        /// <summary>Submits jobs from the shared counter until none is left, then polls its own until all finished; their completed_at.</summary>
        private async Task<List<DateTimeOffset>> ClientAsync()
        {
            var mine = new Queue<string>();
            int index;
            while ((index = Interlocked.Increment(ref _next)) < options.Jobs)
            {
                var started = _clock.Elapsed.TotalMilliseconds;
                using var response = await http.PostAsJsonAsync("/v1/generations", Body(seed: index));
                var latency = _clock.Elapsed.TotalMilliseconds - started;
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw new InvalidOperationException($"Job {index} was answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }

                _accepts[index] = new Accept(started, latency);
                mine.Enqueue(response.Headers.Location!.ToString());
            }

            if (Interlocked.Increment(ref _clientsSubmitted) == options.Clients)
            {
                _afterSubmit = counters.Snapshot();
                _submitSeconds = _clock.Elapsed.TotalSeconds;
            }

            var completed = new List<DateTimeOffset>();
            while (mine.Count > 0)
            {
                if (_clock.Elapsed > DrainTimeout)
                {
                    throw new TimeoutException($"{mine.Count} jobs of a client were not finished after {DrainTimeout.TotalMinutes} minutes.");
                }

                await Task.Delay(PollInterval);
                while (mine.Count > 0)
                {
                    var job = await http.GetFromJsonAsync<JsonElement>(mine.Peek());
                    var status = job.GetProperty("status").GetString();
                    if (status is "failed" or "cancelled")
                    {
                        throw new InvalidOperationException($"Job {mine.Peek()} {status}: {job}");
                    }

                    if (status != "succeeded")
                    {
                        break;
                    }

                    completed.Add(job.GetProperty("completed_at").GetDateTimeOffset());
                    mine.Dequeue();
                }
            }

            return completed;
        }
    }
}
