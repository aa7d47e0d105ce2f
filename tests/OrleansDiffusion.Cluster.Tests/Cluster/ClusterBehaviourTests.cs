using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>Deduplication, load spreading, elasticity and cancellation on real in-process clusters (state in memory).</summary>
public sealed class ClusterBehaviourTests
{
    private static GenerationSpec Spec(string prompt = "a lighthouse", long seed = 1, int steps = 4) => ClusterHarness.SmallSpec(prompt, seed, steps);

    [Fact]
    public async Task Identical_concurrent_requests_run_inference_once()
    {
        await using var harness = await ClusterHarness.StartAsync(3);
        try
        {
            var spec = Spec("twenty clients, one picture", steps: 8);

            var submitted = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => harness.SubmitAsync(spec, apiKey: $"client-{i % 4}")));
            var finished = await Task.WhenAll(submitted.Select(s => harness.WaitAsync(s.Id)));

            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            var keys = finished.Select(f => Assert.Single(f.Images).Key).Distinct().ToList();
            Assert.Single(keys);
            Assert.Equal(1, harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedRuns));
            var entry = await harness.Client.GetGrain<IResultCacheGrain>(finished[0].RequestKey!).GetEntry();
            Assert.Equal(1, entry.Inferences);
            Assert.True(File.Exists(Path.Combine(harness.ImagesDirectory, keys[0])));

            // Later, the same request is answered from storage: cached, no inference.
            var (laterId, later) = await harness.SubmitAsync(spec, apiKey: "latecomer");
            Assert.Equal(JobStatus.Succeeded, later.Status);
            Assert.True(later.Cached);
            Assert.Equal(keys[0], later.Images[0].Key);
            Assert.Equal(1, harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedRuns));
            Assert.Equal(JobStatus.Succeeded, (await harness.Job(laterId).GetSnapshot()).Status);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_random_seed_resolved_first_makes_a_distinct_request()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            var a = await harness.SubmitAsync(Spec(seed: 11));
            var b = await harness.SubmitAsync(Spec(seed: 12));

            var first = await harness.WaitAsync(a.Id);
            var second = await harness.WaitAsync(b.Id);

            Assert.NotEqual(first.RequestKey, second.RequestKey);
            Assert.NotEqual(first.Images[0].Key, second.Images[0].Key);
            Assert.Equal(2, harness.RunnerOf(harness.ActiveSilos.Single()).CompletedItems);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Every_silo_works_while_work_waits()
    {
        // A deliberately slow model: each UNet call burns extra convolutions.
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 600);
        await using var harness = await ClusterHarness.StartAsync(
            2,
            o =>
            {
                o.MaxBatchSize = 1;
                o.WarmModels = ["demo"]; // measure the steady state, not who loaded the model first
            },
            root: root);
        try
        {
            var jobs = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => harness.SubmitAsync(Spec($"distinct {i}", seed: i, steps: 20))));
            var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id, TimeSpan.FromSeconds(120))));

            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            var perSilo = harness.ActiveSilos.Select(s => harness.RunnerOf(s).CompletedRuns).ToList();
            Assert.Equal(8, perSilo.Sum());
            var stats = await harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetStats();
            Assert.All(perSilo, runs => Assert.True(runs >= 2, $"each silo ran work, got {string.Join(", ", perSilo)}; requeued {stats.Requeued}; loads {string.Join(", ", harness.ActiveSilos.Select(s => harness.ModelHostOf(s).LoadCount("demo")))}"));
            Assert.Equal(2, finished.Select(f => f.Silo).Distinct().Count());
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Compatible_waiting_requests_run_as_one_batch()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.MaxBatchSize = 4;
            o.BatchWindow = TimeSpan.FromMilliseconds(500);
        });
        try
        {
            var jobs = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => harness.SubmitAsync(Spec($"batch member {i}", seed: 100 + i))));
            var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id)));

            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            var runner = harness.RunnerOf(harness.ActiveSilos.Single());
            Assert.Equal(4, runner.CompletedItems);
            Assert.True(runner.CompletedRuns < 4, $"{runner.CompletedRuns} runs for 4 compatible requests");
            Assert.Equal(4, finished.Select(f => f.Images[0].Key).Distinct().Count());
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Idle_workers_deactivate_and_their_deactivation_unloads_the_model()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o => o.ModelUnloadAfter = TimeSpan.FromSeconds(2));
        try
        {
            var (id, _) = await harness.SubmitAsync(Spec("wake up"));
            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);
            Assert.Contains(harness.ActiveSilos, s => harness.ModelHostOf(s).LoadCount("demo") == 1);

            var management = harness.Client.GetGrain<IManagementGrain>(0);
            await ClusterHarness.EventuallyAsync(
                async () =>
                {
                    var stats = await management.GetSimpleGrainStatistics();
                    var workers = stats.Where(s => s.GrainType.Contains("InferenceWorker", StringComparison.Ordinal)).Sum(s => s.ActivationCount);
                    return workers == 0 && harness.ActiveSilos.All(s => harness.ModelHostOf(s).LoadedModels.Count == 0);
                },
                TimeSpan.FromSeconds(30),
                "no inference worker activation and no loaded model on any silo");

            // Scale from zero: the next request loads the model again.
            var (again, _) = await harness.SubmitAsync(Spec("wake up again"));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(again)).Status);
            Assert.Equal(2, harness.ActiveSilos.Sum(s => harness.ModelHostOf(s).LoadCount("demo")));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Warm_models_are_preloaded_and_stay_loaded()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o =>
        {
            o.WarmModels = ["demo"];
            o.ModelUnloadAfter = TimeSpan.FromSeconds(2);
        });
        try
        {
            Assert.All(harness.ActiveSilos, s => Assert.Equal(["demo"], harness.ModelHostOf(s).LoadedModels));
            var (id, _) = await harness.SubmitAsync(Spec());
            await harness.WaitAsync(id);
            await Task.Delay(5000, TestContext.Current.CancellationToken); // the worker activation is collected meanwhile

            Assert.All(harness.ActiveSilos, s => Assert.Equal(["demo"], harness.ModelHostOf(s).LoadedModels));
            Assert.All(harness.ActiveSilos, s => Assert.Equal(1, harness.ModelHostOf(s).LoadCount("demo")));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task With_the_cache_scoped_to_keys_identical_requests_of_two_keys_are_computed_apart()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Cache.Scope = CacheScope.Key);
        try
        {
            var (alice, _) = await harness.SubmitAsync(Spec("the same request"), "alice");
            var (bob, _) = await harness.SubmitAsync(Spec("the same request"), "bob");
            var first = await harness.WaitAsync(alice);
            var second = await harness.WaitAsync(bob);

            Assert.NotEqual(first.RequestKey, second.RequestKey);
            Assert.False(second.Cached);
            Assert.Equal(2, harness.ActiveSilos.Sum(s => harness.RunnerOf(s).CompletedItems));

            // Within one key the cache still answers.
            var (again, answered) = await harness.SubmitAsync(Spec("the same request"), "alice");
            Assert.True(answered.Cached);
            Assert.Equal(first.RequestKey, (await harness.Job(again).GetSnapshot()).RequestKey);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_job_saves_only_what_its_owner_cannot_tell_and_reads_its_success_from_the_owner()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            var (computed, _) = await harness.SubmitAsync(Spec("remembered"));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(computed)).Status);
            var (hit, answered) = await harness.SubmitAsync(Spec("remembered"));
            Assert.True(answered.Cached);

            // Every activation goes: the jobs come back from their records, which never saved the success.
            var management = harness.Client.GetGrain<IManagementGrain>(0);
            await management.ForceActivationCollection(TimeSpan.Zero, TestContext.Current.CancellationToken);
            var jobs = (await management.GetSimpleGrainStatistics(TestContext.Current.CancellationToken)).Where(g => g.GrainType.Contains("GenerationJob", StringComparison.Ordinal));
            Assert.Equal(0, jobs.Sum(g => g.ActivationCount));

            var first = await harness.Job(computed).GetSnapshot();
            var second = await harness.Job(hit).GetSnapshot();
            Assert.Equal((JobStatus.Succeeded, false), (first.Status, first.Cached));
            Assert.Equal((JobStatus.Succeeded, true), (second.Status, second.Cached));
            Assert.Equal(first.Images, second.Images);
            Assert.Single(first.Images);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_worker_talks_to_the_owner_alone_and_the_owner_completes_its_queue_entry()
    {
        // No silo runs inference: the test is the worker. It leases the entry from its partition, gets the spec from the
        // owner (the entry carries none), and reports the result to the owner only.
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Capacity = 0);
        try
        {
            var (id, submitted) = await harness.SubmitAsync(Spec("by hand"));
            var key = submitted.RequestKey!;
            var partition = harness.Client.GetGrain<IQueuePartitionGrain>(QueuePartitions.Of("demo", key, new DiffusionOptions().QueuePartitions));
            var lease = await partition.Lease("a-test-worker", 1);
            var entry = Assert.Single(lease!.Items);
            Assert.Equal((key, "test", "demo"), (entry.Key, entry.ApiKey, entry.Model));

            var owner = harness.Client.GetGrain<IResultCacheGrain>(key);
            var spec = await owner.Start(lease.LeaseId, "a-test-worker");
            Assert.Equal("by hand", spec!.Prompt);
            Assert.Equal(JobStatus.Running, (await harness.Job(id).GetSnapshot()).Status);
            Assert.True(await owner.Progress(lease.LeaseId, 1, spec.Steps, 0.1, null));
            await ClusterHarness.EventuallyAsync( // the job reads its step from the owner, at most every 100 ms
                async () => (await harness.Job(id).GetSnapshot()).Step == 1,
                TimeSpan.FromSeconds(5),
                "the job's step read from its owner");

            ImageRef[] images = [new("images/0000000000000000000000000000000000000000000000000000000000000000.png", spec.Seed, 64, 64, 100)];
            await owner.Complete(lease.LeaseId, images, "a-test-worker");

            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);
            Assert.Equal(images, done.Images);
            var counts = await partition.GetCounts();
            Assert.Equal((0, 0, 1L), (counts.Pending, counts.RunningBySilo.Count, counts.Completed));

            // A second report (a requeued duplicate finishing too) changes nothing: the first result stands.
            await owner.Complete(lease.LeaseId, [], "another");
            Assert.Equal(images, (await owner.GetEntry()).Images);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Cancellation_stops_the_work_within_a_step_or_two()
    {
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 1500);
        await using var harness = await ClusterHarness.StartAsync(1, root: root);
        try
        {
            // The most steps a request may have, on a 512 x 512 latent-heavy image (all 150 steps take seconds): the run
            // must still be far from done when the test sees step 2, also on a fast machine (at 64 x 64 it once ran all
            // 150 steps before the cancel arrived).
            var (id, _) = await harness.SubmitAsync(Spec("long job", steps: 150) with { Width = 512, Height = 512 });
            var runner = harness.RunnerOf(harness.ActiveSilos.Single());
            await ClusterHarness.EventuallyAsync(async () => (await harness.Job(id).GetSnapshot()).Step >= 2, TimeSpan.FromSeconds(60), "two steps done");

            var cancelled = await harness.Job(id).Cancel();
            var stepAtCancel = cancelled.Step;
            Assert.True(cancelled.Status == JobStatus.Cancelled, $"{cancelled.Status} at step {cancelled.Step}/{cancelled.TotalSteps}");
            await ClusterHarness.EventuallyAsync(() => Task.FromResult(runner.Running == 0), TimeSpan.FromSeconds(20), "the worker stopped");

            Assert.Equal(0, runner.CompletedRuns);
            var snapshot = await harness.Job(id).GetSnapshot();
            Assert.Equal(JobStatus.Cancelled, snapshot.Status);
            Assert.True(snapshot.Step < 150 && snapshot.Step <= stepAtCancel + 3, $"stopped at step {snapshot.Step}, cancelled at {stepAtCancel}");
            var entry = await harness.Client.GetGrain<IResultCacheGrain>(snapshot.RequestKey!).GetEntry();
            Assert.Equal(CacheEntryStatus.Empty, entry.Status);
            Assert.Equal(0, (await harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetStats()).Running);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task The_queue_is_fair_between_api_keys_bounded_and_reports_positions()
    {
        // Capacity 0: nothing runs, so the queue can be inspected.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Capacity = 0;
            o.MaxQueueLength = 4;
            o.QueuePartitions = 1; // the round robin is exact within a partition
        });
        try
        {
            var a1 = await harness.SubmitAsync(Spec("a1"), "alice");
            var a2 = await harness.SubmitAsync(Spec("a2"), "alice");
            var a3 = await harness.SubmitAsync(Spec("a3"), "alice");
            var b1 = await harness.SubmitAsync(Spec("b1"), "bob");

            Assert.Equal(JobStatus.Queued, a1.Snapshot.Status);
            Assert.Equal(0, (await harness.Job(a1.Id).GetSnapshot()).QueuePosition);
            Assert.Equal(1, (await harness.Job(b1.Id).GetSnapshot()).QueuePosition);
            Assert.Equal(2, (await harness.Job(a2.Id).GetSnapshot()).QueuePosition);
            Assert.Equal(3, (await harness.Job(a3.Id).GetSnapshot()).QueuePosition);

            var refused = Guid.NewGuid();
            await Assert.ThrowsAsync<QueueFullException>(() => harness.Job(refused).Submit(Spec("one too many"), "carol", IKeyQuotaGrain.Unlimited));
            Assert.Equal(JobStatus.None, (await harness.Job(refused).GetSnapshot()).Status);

            // A duplicate of a queued request joins it instead of taking a place.
            var joined = await harness.SubmitAsync(Spec("a2"), "dave");
            Assert.Equal(JobStatus.Queued, joined.Snapshot.Status);
            Assert.Equal(4, (await harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetStats()).Pending);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_bad_request_is_refused_and_changes_nothing()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            var id = Guid.NewGuid();
            await Assert.ThrowsAsync<ArgumentException>(() => harness.Job(id).Submit(Spec() with { Width = 100 }, "k", IKeyQuotaGrain.Unlimited));
            await Assert.ThrowsAsync<ArgumentException>(() => harness.Job(id).Submit(Spec() with { Model = "sdxl" }, "k", IKeyQuotaGrain.Unlimited));
            await Assert.ThrowsAsync<ArgumentException>(() => harness.Job(id).Submit(Spec() with { Scheduler = "heun" }, "k", IKeyQuotaGrain.Unlimited));
            await Assert.ThrowsAsync<ArgumentException>(() => harness.Job(id).Submit(Spec() with { Scheduler = "lcm", Steps = 60 }, "k", IKeyQuotaGrain.Unlimited));
            await Assert.ThrowsAsync<ArgumentException>(() => harness.Job(id).Submit(Spec() with { Prompt = new string('x', ModelCatalog.MaxPromptLength + 1) }, "k", IKeyQuotaGrain.Unlimited));

            Assert.Equal(JobStatus.None, (await harness.Job(id).GetSnapshot()).Status);
            Assert.Equal(0, (await harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey).GetStats()).Pending);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
