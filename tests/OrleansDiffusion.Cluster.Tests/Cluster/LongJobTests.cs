using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orleans.TestingHost;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>
/// Jobs that span many lease periods, as a full-size model's do on a CPU: a slow demo model (extra UNet work that a
/// 1024 x 1024 latent feels) and a lease of 3 s stand in for minutes of work and a lease of a minute.
/// </summary>
public sealed class LongJobTests(AzuriteFixture azurite)
{
    /// <summary>
    /// 80-150 ms per step of a 1024 x 1024 image on a quiet 2-core machine: a job of <see cref="Steps"/> steps (the most a
    /// request may ask) lasts four leases or more. (More layers at a smaller size would cost the same per step but load far slower.)
    /// </summary>
    internal const int SlowLayers = 700;

    internal const int Steps = 150;

    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    internal static GenerationSpec LongSpec(string prompt, long seed) =>
        ClusterHarness.SmallSpec(prompt, seed, Steps) with { Width = 1024, Height = 1024 };

    [Fact]
    public async Task A_job_of_many_lease_periods_runs_once_reports_every_step_in_order_and_counts_as_running_until_it_ends()
    {
        // One silo hosts the queue and runs nothing until the watcher is in place; two more run work.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Capacity = 0;
            o.MaxBatchSize = 1;
            o.LeaseDuration = Lease;
        }, root: ClusterHarness.CreateRoot(SlowLayers));
        try
        {
            var (id, submitted) = await harness.SubmitAsync(LongSpec("long", 1));
            var recorder = new EventRecorder();
            await harness.Client.GetGrain<IResultCacheGrain>(submitted.RequestKey!).Watch(harness.Client.CreateObjectReference<IInferenceObserver>(recorder));
            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            await harness.Cluster.StartAdditionalSiloAsync();

            // The autoscaler's signal, sampled while the job is known to run before and after the sample.
            var queue = harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
            var whileRunning = new List<ScaleSignal>();
            while (true)
            {
                var before = await harness.Job(id).GetSnapshot();
                if (before.IsTerminal)
                {
                    break;
                }

                var signal = await queue.GetScaleSignal();
                var after = await harness.Job(id).GetSnapshot();
                if (before.Status == JobStatus.Running && before.Step >= 1 && after.Status == JobStatus.Running && after.Step < Steps)
                {
                    whileRunning.Add(signal);
                }

                await Task.Delay(250, TestContext.Current.CancellationToken);
            }

            var done = await harness.WaitAsync(id, TimeSpan.FromSeconds(240));
            Assert.Equal(JobStatus.Succeeded, done.Status);
            await ClusterHarness.EventuallyAsync(
                () => Task.FromResult(recorder.Events.Any(e => e.Kind == InferenceEventKind.Completed) && recorder.Events.Any(e => e.Kind == InferenceEventKind.Progress && e.Step == Steps)),
                TimeSpan.FromSeconds(10),
                "the completed event and the last step's progress");

            // It outlived several leases, so only renewals kept it: leased once, run once, on one silo.
            var events = recorder.Events.OrderBy(e => e.Seq).ToList();
            var started = events.Single(e => e.Kind == InferenceEventKind.Started);
            var completed = events.Single(e => e.Kind == InferenceEventKind.Completed);
            var ran = completed.CompletedAt!.Value - started.StartedAt!.Value;
            TestContext.Current.TestOutputHelper?.WriteLine($"the job ran {ran.TotalSeconds:0.0} s ({ran / Lease:0.0} leases); {whileRunning.Count} signal samples while it ran");
            Assert.True(ran > 2 * Lease, $"the job ran {ran.TotalSeconds:0.0} s, more than two leases of {Lease.TotalSeconds} s");
            var stats = await queue.GetStats();
            Assert.Equal(0, stats.Requeued);
            Assert.Equal(1, (await harness.Client.GetGrain<IResultCacheGrain>(done.RequestKey!).GetEntry()).Inferences);
            Assert.Equal(1, harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedItems));
            Assert.Equal(started.Silo, completed.Silo);

            // Every step's progress, in order, between the start and the end.
            Assert.Equal(
                [InferenceEventKind.Started, .. Enumerable.Repeat(InferenceEventKind.Progress, Steps), InferenceEventKind.Completed],
                events.Where(e => e.Kind is InferenceEventKind.Started or InferenceEventKind.Progress or InferenceEventKind.Completed).Select(e => e.Kind));
            Assert.Equal(Enumerable.Range(1, Steps), events.Where(e => e.Kind == InferenceEventKind.Progress).Select(e => e.Step));

            // Counted as running all along (a lost lease would show it pending or gone), and no longer once it ended.
            Assert.True(whileRunning.Count >= 4, $"{whileRunning.Count} samples of the signal while the job ran");
            Assert.All(whileRunning, s =>
            {
                Assert.Equal((1, 0), (s.Running, s.Pending));
                Assert.True(s.RunningUnits > 0 && s.DesiredSilos >= 1, $"running units {s.RunningUnits}, desired silos {s.DesiredSilos}");
            });
            await ClusterHarness.EventuallyAsync(
                async () => await queue.GetScaleSignal() is { Running: 0, Pending: 0, RunningUnits: 0 },
                TimeSpan.FromSeconds(10),
                "the signal without the finished job");
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_silo_stopped_mid_job_hands_it_back_within_the_drain_timeout_and_another_silo_completes_it()
    {
        // Grain state in Azurite, as the graceful-stop tests: the stopping silo's grains move through durable storage.
        var drain = TimeSpan.FromSeconds(2);
        await using var harness = await ClusterHarness.StartAsync(2, o =>
        {
            o.MaxBatchSize = 1;
            o.LeaseDuration = Lease;
            o.DrainTimeout = drain;
        }, azurite.ConnectionString, ClusterHarness.CreateRoot(SlowLayers));
        try
        {
            var (id, _) = await harness.SubmitAsync(LongSpec("handed back", 2));
            await ClusterHarness.EventuallyAsync(
                async () => await harness.Job(id).GetSnapshot() is { Status: JobStatus.Running, Step: >= 3 },
                TimeSpan.FromSeconds(120),
                "the job a few steps in");
            var leaving = harness.ActiveSilos.Single(s => harness.RunnerOf(s).Running > 0);
            var staying = harness.ActiveSilos.Single(s => s != leaving);
            var runner = harness.RunnerOf(leaving);

            var clock = Stopwatch.StartNew();
            var stopping = harness.Cluster.StopSiloAsync(leaving, TestContext.Current.CancellationToken);
            await ClusterHarness.EventuallyAsync(() => Task.FromResult(runner.Running == 0), TimeSpan.FromSeconds(60), "the run to leave the stopping silo");
            var handedBackAfter = clock.Elapsed;
            await stopping;
            TestContext.Current.TestOutputHelper?.WriteLine($"handed back {handedBackAfter.TotalSeconds:0.0} s after the stop began (drain timeout {drain.TotalSeconds} s); the silo stopped after {clock.Elapsed.TotalSeconds:0.0} s");

            // The drain waits for the job, cannot see it end, and cancels it: the UNet call in progress is terminated.
            Assert.Equal((1, 0), (runner.HandedBack, runner.CompletedItems));
            Assert.True(
                handedBackAfter < drain + TimeSpan.FromSeconds(5),
                $"handed back {handedBackAfter.TotalSeconds:0.0} s after the stop began (drain timeout {drain.TotalSeconds} s)");

            var done = await harness.WaitAsync(id, TimeSpan.FromSeconds(240));
            Assert.Equal(JobStatus.Succeeded, done.Status);
            Assert.Equal(harness.RunnerOf(staying).SiloId, done.Silo);
            Assert.Equal(1, (await harness.Client.GetGrain<IResultCacheGrain>(done.RequestKey!).GetEntry()).Inferences);
            var stats = await harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetStats();
            Assert.Equal((0, 0, 0L), (stats.Pending, stats.Running, stats.GaveUp));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Cancelling_a_running_job_stops_its_engine_within_the_next_step_and_frees_the_slot()
    {
        // A long lease: only the answer to a progress report can stop the run here, not a renewal.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.MaxBatchSize = 1;
            o.LeaseDuration = TimeSpan.FromSeconds(60);
        }, root: ClusterHarness.CreateRoot(SlowLayers));
        try
        {
            var silo = harness.ActiveSilos.Single();
            using var steps = new StepListener(harness.Service<IMeterFactory>(silo));
            var (id, _) = await harness.SubmitAsync(LongSpec("cancelled", 3));
            await ClusterHarness.EventuallyAsync(
                async () => await harness.Job(id).GetSnapshot() is { Status: JobStatus.Running, Step: >= 3 },
                TimeSpan.FromSeconds(120),
                "the job a few steps in");

            var cancelledAt = Stopwatch.GetTimestamp();
            await harness.Job(id).Cancel();
            var runner = harness.RunnerOf(silo);
            await ClusterHarness.EventuallyAsync(() => Task.FromResult(runner.Running == 0), TimeSpan.FromSeconds(60), "the run to end");
            var endedAt = Stopwatch.GetTimestamp();

            // The step under way when the cancel came completes and reports; the answer terminates the next one.
            var before = steps.Before(cancelledAt);
            var after = steps.After(cancelledAt);
            var typicalStep = before.Order().ElementAt(before.Count / 2);
            var stoppedWithin = Stopwatch.GetElapsedTime(cancelledAt, endedAt) / typicalStep;
            TestContext.Current.TestOutputHelper?.WriteLine($"steps completed after the cancel: {after}; run ended {stoppedWithin:0.00} steps after it ({typicalStep.TotalMilliseconds:0} ms a step)");
            Assert.True(after <= 1, $"{after} steps completed after the cancel");
            Assert.Equal(JobStatus.Cancelled, (await harness.Job(id).GetSnapshot()).Status);

            // The only slot takes the next job.
            var (next, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("next", 4, steps: 2));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(next, TimeSpan.FromSeconds(60))).Status);
            Assert.Equal(1, runner.CompletedItems);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    internal sealed class EventRecorder : IInferenceObserver
    {
        public ConcurrentQueue<InferenceEvent> Events { get; } = new();

        public Task OnInferenceEvent(InferenceEvent inferenceEvent)
        {
            Events.Enqueue(inferenceEvent);
            return Task.CompletedTask;
        }
    }

    /// <summary>The engine steps of one silo (its <c>diffusion_step_latency</c> measurements), with when each ended.</summary>
    private sealed class StepListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(long At, TimeSpan Took)> _steps = new();

        public StepListener(IMeterFactory silo)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == DiffusionMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, silo) && instrument.Name == "diffusion_step_latency")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => _steps.Enqueue((Stopwatch.GetTimestamp(), TimeSpan.FromSeconds(seconds))));
            _listener.Start();
        }

        public List<TimeSpan> Before(long timestamp) => [.. _steps.Where(s => s.At <= timestamp).Select(s => s.Took)];

        public int After(long timestamp) => _steps.Count(s => s.At > timestamp);

        public void Dispose() => _listener.Dispose();
    }
}
