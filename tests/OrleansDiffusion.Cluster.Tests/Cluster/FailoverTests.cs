using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>No accepted job is lost: silos die, the whole cluster restarts, storage blinks (state in Azurite).</summary>
public sealed class FailoverTests(AzuriteFixture azurite)
{
    private static GenerationSpec Spec(string prompt, long seed = 1, int steps = 12) => ClusterHarness.SmallSpec(prompt, seed, steps);

    [Fact]
    public async Task A_silo_killed_mid_job_loses_no_job()
    {
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 800);
        await using var harness = await ClusterHarness.StartAsync(3, o => o.MaxBatchSize = 1, azurite.ConnectionString, root, "kill-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var jobs = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => harness.SubmitAsync(Spec($"survivor {i}", seed: i, steps: 40))));
            // Kill a secondary silo (one that is not the primary) while it runs a job, without a graceful stop: no
            // hand-back, no report. Which of them gets work first is up to the race for it.
            var secondaries = harness.Cluster.Silos.Skip(1).ToList();
            await ClusterHarness.EventuallyAsync(
                () => Task.FromResult(secondaries.Any(s => harness.RunnerOf(s).Running > 0)),
                TimeSpan.FromSeconds(90),
                "a job running on a secondary silo");
            var victim = secondaries.First(s => harness.RunnerOf(s).Running > 0);
            var victimAddress = victim.SiloAddress.ToParsableString();
            harness.RunnerOf(victim).SimulateProcessDeath();
            await harness.Cluster.KillSiloAsync(victim, TestContext.Current.CancellationToken);
            var killedAt = DateTime.UtcNow;
            var unfinishedAtKill = new List<Guid>();
            foreach (var (id, _) in jobs)
            {
                if (!(await harness.WaitForSnapshotAsync(id)).IsTerminal)
                {
                    unfinishedAtKill.Add(id);
                }
            }

            var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id, TimeSpan.FromSeconds(150))));
            TestContext.Current.TestOutputHelper?.WriteLine($"all jobs finished {(DateTime.UtcNow - killedAt).TotalSeconds:F1} s after the kill");

            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            Assert.All(finished, f => Assert.True(File.Exists(Path.Combine(harness.ImagesDirectory, f.Images[0].Key))));
            Assert.NotEmpty(unfinishedAtKill);
            Assert.All(finished.Where(f => unfinishedAtKill.Contains(f.Id)), f => Assert.NotEqual(victimAddress, f.Silo));
            // The cache entries tell their jobs first and then take their work off the queue: it empties just after.
            var queue = harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
            await ClusterHarness.EventuallyAsync(async () => (await queue.GetStats()) is { Pending: 0, Running: 0 }, TimeSpan.FromSeconds(10), "an empty queue");
            foreach (var job in finished)
            {
                Assert.Equal(1, (await harness.Client.GetGrain<IResultCacheGrain>(job.RequestKey!).GetEntry()).Inferences);
            }
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task After_a_full_cluster_restart_the_same_request_is_a_cache_hit()
    {
        var root = ClusterHarness.CreateRoot();
        var serviceId = "restart-" + Guid.NewGuid().ToString("N")[..8];
        var spec = Spec("remember me", steps: 4);
        JobSnapshot first;
        await using (var before = await ClusterHarness.StartAsync(2, azureConnectionString: azurite.ConnectionString, root: root, serviceId: serviceId))
        {
            var (id, _) = await before.SubmitAsync(spec);
            first = await before.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, first.Status);
            Assert.False(first.Cached);
        }

        await using var after = await ClusterHarness.StartAsync(2, azureConnectionString: azurite.ConnectionString, root: root, serviceId: serviceId);
        try
        {
            var (againId, again) = await after.SubmitAsync(spec, apiKey: "someone else");

            Assert.Equal(JobStatus.Succeeded, again.Status);
            Assert.True(again.Cached);
            Assert.Equal(first.Images[0].Key, again.Images[0].Key);
            Assert.All(after.ActiveSilos, s => Assert.Equal(0, after.RunnerOf(s).CompletedRuns));
            Assert.All(after.ActiveSilos, s => Assert.Equal(0, after.ModelHostOf(s).LoadCount("demo")));

            // The job from before the restart is still there too.
            Assert.Equal(JobStatus.Succeeded, (await after.Job(first.Id).GetSnapshot()).Status);
            Assert.Equal(JobStatus.Succeeded, (await after.Job(againId).GetSnapshot()).Status);
        }
        finally
        {
            after.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_storage_blip_delays_work_but_loses_no_accepted_job()
    {
        await using var storage = await AzuriteServer.StartNewAsync(TestContext.Current.CancellationToken);
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 400);
        await using var harness = await ClusterHarness.StartAsync(2, o => o.MaxBatchSize = 1, storage.ConnectionString, root);
        try
        {
            var accepted = (await Task.WhenAll(Enumerable.Range(0, 3).Select(i => harness.SubmitAsync(Spec($"before the blip {i}", seed: i))))).Select(j => j.Id).ToList();

            await storage.StopAsync(TestContext.Current.CancellationToken);
            var duringBlip = Guid.NewGuid();
            var submitting = Task.Run(() => harness.Job(duringBlip).Submit(Spec("during the blip"), "k", IKeyQuotaGrain.Unlimited), TestContext.Current.CancellationToken);
            await Task.Delay(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken);
            await storage.StartAsync(TestContext.Current.CancellationToken);
            try
            {
                await submitting;
            }
            catch (Exception)
            {
                // A retriable error (a time-out while storage was away). Submitting again with the same job id is
                // idempotent: it answers the job's real state, accepted or not. A client retries until it is answered.
                var deadline = DateTime.UtcNow.AddSeconds(90);
                while (true)
                {
                    try
                    {
                        await harness.Job(duringBlip).Submit(Spec("during the blip"), "k", IKeyQuotaGrain.Unlimited);
                        break;
                    }
                    catch (Exception) when (DateTime.UtcNow < deadline)
                    {
                        await Task.Delay(500, TestContext.Current.CancellationToken);
                    }
                }
            }

            var finished = await Task.WhenAll(accepted.Append(duringBlip).Select(id => harness.WaitAsync(id, TimeSpan.FromSeconds(150))));
            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            Assert.All(finished, f => Assert.True(File.Exists(Path.Combine(harness.ImagesDirectory, f.Images[0].Key))));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
