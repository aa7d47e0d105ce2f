using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class GracefulStopTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_stopping_silo_takes_no_new_work_and_hands_back_what_it_cannot_finish()
    {
        // Grain state in Azurite: a stopping silo takes its in-memory state with it, durable storage does not.
        // A slow model and a drain time shorter than the job: the stopping silo must hand its job back.
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 800);
        await using var harness = await ClusterHarness.StartAsync(2, o =>
        {
            o.MaxBatchSize = 1;
            o.DrainTimeout = TimeSpan.FromMilliseconds(200);
        }, azurite.ConnectionString, root);
        try
        {
            var leaving = harness.Cluster.Silos[1];
            var staying = harness.Cluster.Silos[0];
            var jobs = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => harness.SubmitAsync(new GenerationSpec
            {
                Prompt = $"handed back {i}",
                Seed = i,
                Steps = 150,
                Width = 64,
                Height = 64,
                Scheduler = "euler",
            })));
            await ClusterHarness.EventuallyAsync(() => Task.FromResult(harness.RunnerOf(leaving).Running > 0), TimeSpan.FromSeconds(60), "work running on the silo that will stop");
            var runner = harness.RunnerOf(leaving);

            await harness.Cluster.StopSiloAsync(leaving, TestContext.Current.CancellationToken);

            Assert.Equal(0, runner.Running);
            var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id, TimeSpan.FromSeconds(150))));
            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            // It either finished its job within the drain time or handed it back, which then ran on the other silo.
            Assert.True(runner.HandedBack >= 1 || runner.CompletedRuns >= 1, "the stopping silo finished or handed back its job");
            Assert.Equal(4, harness.RunnerOf(staying).CompletedRuns + runner.CompletedRuns);

            // The cache entry tells its jobs first and then takes its work off the queue, so the queue empties just after.
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
}
