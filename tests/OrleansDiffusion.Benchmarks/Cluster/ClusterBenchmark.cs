using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Orleans;
using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Benchmarks.Cluster;

/// <summary>
/// What the grain path costs and what it buys (issue 3), on in-process clusters over the tiny demo model: per-job
/// overhead against calling the engine directly, cache-hit latency, deduplication of identical concurrent requests,
/// and the throughput gain of batching. A load-tool style run (seconds per scenario), not BenchmarkDotNet.
/// </summary>
public static class ClusterBenchmark
{
    private const string ModelId = "demo";

    /// <summary>The small job of the overhead, cache and dedup scenarios.</summary>
    private static readonly GenerationSpec SmallJob = new()
    {
        Model = ModelId,
        Prompt = "a lighthouse on a cliff at dusk",
        Steps = 4,
        Width = 64,
        Height = 64,
        Scheduler = "euler",
    };

    /// <summary>A job big enough for batching to matter on CPU.</summary>
    private static readonly GenerationSpec BatchJob = SmallJob with { Steps = 8, Width = 128, Height = 128 };

    public static async Task<int> RunAsync(int jobs, TextWriter output)
    {
        var root = ClusterHarness.CreateRoot();
        var directory = Environment.CurrentDirectory;

        // The test cluster writes its silo logs to ./logs: keep them under the root, which is deleted at the end.
        Environment.CurrentDirectory = root;
        try
        {
            var rows = new List<string>();
            var cacheRows = new List<string>();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Cluster benchmark: tiny demo model, CPU, {Environment.ProcessorCount} cores, ONNX intra-op threads 1, in-process silos"));

            // 1 s is the production default of PollInterval (idle silos are woken by the queue; the poll is the fallback),
            // 50 ms the cluster tests' setting.
            foreach (var poll in new[] { 1000, 50, 5 })
            {
                await OverheadAsync(root, jobs, TimeSpan.FromMilliseconds(poll), cacheHits: poll == 50 ? 200 : 0, rows, cacheRows, output);
            }

            rows.AddRange(cacheRows);
            rows.AddRange(await DedupAsync(root, 100, output));
            rows.AddRange(await BatchingAsync(root, 32, output));

            output.WriteLine();
            output.WriteLine("| scenario | measure | value |");
            output.WriteLine("|---|---|---:|");
            foreach (var row in rows)
            {
                output.WriteLine(row);
            }

            return 0;
        }
        finally
        {
            Environment.CurrentDirectory = directory;
            ClusterHarness.DeleteRoot(root);
        }
    }

    /// <summary>
    /// The same small job through a 1-silo cluster (submit, then the Completed event of an observer) and through
    /// <see cref="DiffusionPipeline.Generate"/> on the same model folder in the same process, alternated so that both
    /// see the same noise. Then, at one poll interval, Submit of an already computed spec (a cache hit).
    /// </summary>
    private static async Task OverheadAsync(string root, int jobs, TimeSpan pollInterval, int cacheHits, List<string> rows, List<string> cacheRows, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"overhead: 1 silo, poll interval {pollInterval.TotalMilliseconds} ms, {jobs} jobs ..."));
        await using var harness = await ClusterHarness.StartAsync(1, o => Configure(o, pollInterval), root: root);
        using var model = DiffusionModel.Load(harness.ModelDirectory, new ExecutionOptions { IntraOpThreads = 1 });
        var pipeline = new DiffusionPipeline(model);
        var observer = new CompletionObserver();
        var reference = harness.Client.CreateObjectReference<IInferenceObserver>(observer);
        var seed = pollInterval.Ticks; // distinct seeds per cluster, so nothing is a cache hit
        var grain = new List<double>(jobs);
        var direct = new List<double>(jobs);
        const int warmup = 3;
        for (var i = 0; i < warmup + jobs; i++)
        {
            var spec = SmallJob with { Seed = seed + i };
            var started = Stopwatch.GetTimestamp();
            pipeline.Generate(ModelCatalog.ToEngineRequest(spec, initImage: null));
            var directMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

            started = Stopwatch.GetTimestamp();
            var done = await RunJobAsync(harness, observer, reference, spec, "bench");
            var grainMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Expect(done.Status == JobStatus.Succeeded && !done.Cached, $"job {done.Id} ended {done.Status} (cached: {done.Cached}): {done.Error}");
            if (i >= warmup)
            {
                direct.Add(directMs);
                grain.Add(grainMs);
            }
        }

        var name = string.Create(CultureInfo.InvariantCulture, $"1. grain path vs engine, 64x64 4 steps euler, {jobs} jobs, poll {pollInterval.TotalMilliseconds:0} ms");
        rows.Add(Row(name, "engine direct p50 / p99", $"{Percentile(direct, 50):F1} / {Percentile(direct, 99):F1} ms"));
        rows.Add(Row(name, "grain path p50 / p99", $"{Percentile(grain, 50):F1} / {Percentile(grain, 99):F1} ms"));
        rows.Add(Row(name, "overhead p50 (ms, ratio)", $"+{Percentile(grain, 50) - Percentile(direct, 50):F1} ms, x{Percentile(grain, 50) / Percentile(direct, 50):F2}"));

        if (cacheHits > 0)
        {
            // Let the silo settle after the burst of jobs above, then warm up for two seconds, not a count: a cache hit
            // takes well under a millisecond, and right after the burst (background JIT tiering, reminder and activation
            // clean-up) it measured about three times slower; 20 warm-up calls were not enough either.
            await Task.Delay(TimeSpan.FromSeconds(8));
            var warming = Stopwatch.StartNew();
            var hits = new List<double>(cacheHits);
            for (var i = 0; hits.Count < cacheHits; i++)
            {
                var spec = SmallJob with { Seed = seed + (i % jobs) + warmup };
                var started = Stopwatch.GetTimestamp();
                var (id, snapshot) = await harness.SubmitAsync(spec, "bench-cache");
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                Expect(snapshot.Status == JobStatus.Succeeded && snapshot.Cached, $"cache hit {id} answered {snapshot.Status}");
                if (warming.Elapsed > TimeSpan.FromSeconds(2))
                {
                    hits.Add(ms);
                }
            }

            cacheRows.Add(Row($"2. cache hit, Submit of a computed spec, {cacheHits} submits", "Submit -> Succeeded p50 / p99", $"{Percentile(hits, 50):F2} / {Percentile(hits, 99):F2} ms"));
            cacheRows.Add(Row($"2. cache hit, Submit of a computed spec, {cacheHits} submits", "vs engine direct p50", $"x{Percentile(direct, 50) / Percentile(hits, 50):F0} faster"));
        }

        harness.Client.DeleteObjectReference<IInferenceObserver>(reference);
    }

    /// <summary>Identical requests under different job ids and API keys, all at once, on 2 silos: one inference.</summary>
    private static async Task<List<string>> DedupAsync(string root, int requests, TextWriter output)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"dedup: 2 silos, {requests} identical concurrent requests ..."));
        await using var harness = await ClusterHarness.StartAsync(2, o => Configure(o, TimeSpan.FromMilliseconds(50)), root: root);
        var observer = new CompletionObserver();
        var reference = harness.Client.CreateObjectReference<IInferenceObserver>(observer);

        // Warm both silos (grain types, model loaded by WarmModels) with distinct jobs first.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => RunJobAsync(harness, observer, reference, SmallJob with { Seed = 900 + i }, "warmup")));
        var single = Stopwatch.GetTimestamp();
        await RunJobAsync(harness, observer, reference, SmallJob with { Seed = 998 }, "single");
        var singleMs = Stopwatch.GetElapsedTime(single).TotalMilliseconds;
        var runsBefore = harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedRuns);

        var spec = SmallJob with { Seed = 999 };
        var started = Stopwatch.GetTimestamp();
        var results = await Task.WhenAll(Enumerable.Range(0, requests).Select(i => RunJobAsync(harness, observer, reference, spec, "key-" + i.ToString(CultureInfo.InvariantCulture))));
        var wallMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var inferences = harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedRuns) - runsBefore;
        var succeeded = results.Count(r => r.Status == JobStatus.Succeeded);
        var sameImage = results.Select(r => r.Images.FirstOrDefault()?.Key).Distinct().Count() == 1;
        Expect(succeeded == requests && sameImage, $"{succeeded}/{requests} succeeded, same image: {sameImage}");
        harness.Client.DeleteObjectReference<IInferenceObserver>(reference);

        var name = string.Create(CultureInfo.InvariantCulture, $"3. dedup, {requests} identical concurrent requests, 2 silos");
        return
        [
            Row(name, "wall time, all succeeded", $"{wallMs:F0} ms"),
            Row(name, "one job alone, for scale", $"{singleMs:F0} ms"),
            Row(name, "inferences (sum of CompletedRuns)", inferences.ToString(CultureInfo.InvariantCulture)),
            Row(name, "jobs answered from cache at Submit", results.Count(r => r.Cached).ToString(CultureInfo.InvariantCulture)),
        ];
    }

    /// <summary>
    /// Compatible distinct requests submitted at once to 1 silo of capacity 1, without and with batching (median wall
    /// time of 3 rounds after a warm-up round). The engine alone (the same requests one by one against batches of 8)
    /// gives the ceiling that the cluster can reach.
    /// </summary>
    private static async Task<List<string>> BatchingAsync(string root, int requests, TextWriter output)
    {
        const int rounds = 3;
        var name = string.Create(CultureInfo.InvariantCulture, $"4. batching, {requests} distinct 128x128 8-step requests, 1 silo, capacity 1");
        var rows = new List<string>();
        var throughput = new Dictionary<int, double>();
        foreach (var maxBatch in new[] { 1, 8 })
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"batching: MaxBatchSize {maxBatch}, {requests} requests ..."));
            await using var harness = await ClusterHarness.StartAsync(1, o =>
            {
                Configure(o, TimeSpan.FromMilliseconds(50));
                o.MaxBatchSize = maxBatch;
                o.BatchWindow = TimeSpan.FromMilliseconds(50);
            }, root: root);
            var observer = new CompletionObserver();
            var reference = harness.Client.CreateObjectReference<IInferenceObserver>(observer);
            var runner = harness.RunnerOf(harness.ActiveSilos.Single());
            var walls = new List<double>();
            var runs = 0;
            for (var round = 0; round <= rounds; round++)
            {
                var runsBefore = runner.CompletedRuns;
                var seed = (maxBatch * 10_000) + (round * 1000);
                var started = Stopwatch.GetTimestamp();
                var results = await Task.WhenAll(Enumerable.Range(0, requests).Select(i => RunJobAsync(harness, observer, reference, BatchJob with { Seed = seed + i }, "bench")));
                var wall = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                Expect(results.All(r => r.Status == JobStatus.Succeeded && !r.Cached), "a batching job failed or was cached");
                if (round > 0)
                {
                    walls.Add(wall);
                    runs += runner.CompletedRuns - runsBefore;
                }
            }

            harness.Client.DeleteObjectReference<IInferenceObserver>(reference);
            var median = Percentile(walls, 50);
            throughput[maxBatch] = requests / (median / 1000);
            var label = maxBatch == 1 ? "MaxBatchSize 1" : "MaxBatchSize 8, window 50 ms";
            rows.Add(Row(name, $"cluster, {label}: wall (median of {rounds}), runs per round", string.Create(CultureInfo.InvariantCulture, $"{median:F0} ms, {runs / (double)rounds:0.#} runs")));
            rows.Add(Row(name, $"cluster, {label}: throughput", string.Create(CultureInfo.InvariantCulture, $"{throughput[maxBatch]:F1} images/s")));
        }

        rows.Add(Row(name, "cluster gain (8 vs 1)", string.Create(CultureInfo.InvariantCulture, $"x{throughput[8] / throughput[1]:F2}")));

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"batching: engine alone, {requests} requests ..."));
        using var model = DiffusionModel.Load(Path.Combine(root, "model"), new ExecutionOptions { IntraOpThreads = 1 });
        var pipeline = new DiffusionPipeline(model);
        var single = new List<double>();
        var batched = new List<double>();
        for (var round = 0; round <= rounds; round++)
        {
            var batch = Enumerable.Range(0, requests).Select(i => ModelCatalog.ToEngineRequest(BatchJob with { Seed = i }, initImage: null)).ToList();
            var started = Stopwatch.GetTimestamp();
            foreach (var request in batch)
            {
                pipeline.Generate(request);
            }

            var singleMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            started = Stopwatch.GetTimestamp();
            foreach (var chunk in batch.Chunk(8))
            {
                pipeline.GenerateBatch(chunk);
            }

            var batchedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (round > 0)
            {
                single.Add(singleMs);
                batched.Add(batchedMs);
            }
        }

        var engine = string.Create(CultureInfo.InvariantCulture, $"4. batching, {requests} requests, engine alone (no cluster)");
        rows.Add(Row(engine, "one by one: throughput", string.Create(CultureInfo.InvariantCulture, $"{requests / (Percentile(single, 50) / 1000):F1} images/s")));
        rows.Add(Row(engine, "batches of 8: throughput", string.Create(CultureInfo.InvariantCulture, $"{requests / (Percentile(batched, 50) / 1000):F1} images/s")));
        rows.Add(Row(engine, "engine gain (8 vs 1)", string.Create(CultureInfo.InvariantCulture, $"x{Percentile(single, 50) / Percentile(batched, 50):F2}")));
        return rows;
    }

    private static void Configure(DiffusionOptions options, TimeSpan pollInterval)
    {
        options.PollInterval = pollInterval;
        options.PreviewInterval = 0; // the direct engine call renders no previews either
        options.MaxBatchSize = 1;
        options.WarmModels = [ModelId]; // loaded at start, not by the first measured job
    }

    /// <summary>Submits under a fresh job id and completes on its inference's outcome event (or the watch's current state).</summary>
    private static async Task<JobSnapshot> RunJobAsync(ClusterHarness harness, CompletionObserver observer, IInferenceObserver reference, GenerationSpec spec, string apiKey)
    {
        var job = harness.Job(Guid.NewGuid());
        var submitted = await job.Submit(spec, apiKey, IKeyQuotaGrain.Unlimited);
        if (submitted.IsTerminal)
        {
            return submitted;
        }

        var key = submitted.RequestKey!;
        var completion = observer.Expect(key);
        var owner = harness.Client.GetGrain<IResultCacheGrain>(key);
        var current = await owner.Watch(reference);
        if (current.Current.IsOutcome)
        {
            observer.Complete(key);
        }

        await completion.WaitAsync(TimeSpan.FromSeconds(120));
        await owner.Unwatch(reference);
        return await job.GetSnapshot();
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }

    private static string Row(string scenario, string measure, string value) => $"| {scenario} | {measure} | {value} |";

    private static void Expect(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Cluster benchmark: " + message);
        }
    }

    /// <summary>One observer for all jobs of a client: completes each inference's task on its outcome event.</summary>
    private sealed class CompletionObserver : IInferenceObserver
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _pending = new(StringComparer.Ordinal);

        public Task Expect(string key) =>
            _pending.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        public void Complete(string key)
        {
            if (_pending.TryRemove(key, out var completion))
            {
                completion.TrySetResult();
            }
        }

        public Task OnInferenceEvent(InferenceEvent inferenceEvent)
        {
            if (inferenceEvent.IsOutcome)
            {
                Complete(inferenceEvent.Key);
            }

            return Task.CompletedTask;
        }
    }
}
