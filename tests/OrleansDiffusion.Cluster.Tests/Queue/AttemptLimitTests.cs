using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Queue;

public sealed class AttemptLimitTests
{
    private static readonly GenerationSpec Poison = new() { Prompt = "poison", Seed = 1, Steps = 2, Width = 64, Height = 64 };

    [Fact]
    public async Task Work_lost_as_often_as_MaxAttempts_fails_its_job_instead_of_running_forever()
    {
        // No silo runs inference: the test is the worker, one that takes the work and never reports (a silo that dies).
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Capacity = 0;
            o.LeaseDuration = TimeSpan.FromSeconds(3);
            o.MaxAttempts = 3;
            o.QueuePartitions = 1;
        });
        try
        {
            var queue = harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
            var partition = harness.Client.GetGrain<IQueuePartitionGrain>(QueuePartitions.KeyOf("demo", 0));
            var (id, submitted) = await harness.SubmitAsync(Poison);
            var owner = harness.Client.GetGrain<IResultCacheGrain>(submitted.RequestKey!);

            for (var attempt = 0; attempt < 3; attempt++)
            {
                var lease = await partition.Lease("a-silo-that-dies", 1);
                Assert.NotNull(lease);
                Assert.Equal(attempt, (await owner.GetEntry()).Attempts);
                Assert.Equal(JobStatus.Queued, (await harness.Job(id).GetSnapshot()).Status);

                // The lease expires unrenewed; the partition's watchdog requeues the work and the owner counts the
                // attempt: twice it goes on, the third time the owner gives up.
                await ClusterHarness.EventuallyAsync(
                    async () => (await queue.GetStats()) is { Running: 0 },
                    TimeSpan.FromSeconds(30),
                    $"lease {attempt + 1} expired");
            }

            var job = await harness.WaitAsync(id, TimeSpan.FromSeconds(30));
            Assert.Equal(JobStatus.Failed, job.Status);
            Assert.Contains("lost 3 times", job.Error, StringComparison.Ordinal);
            Assert.Contains("lease expired", job.Error, StringComparison.Ordinal);
            await ClusterHarness.EventuallyAsync(async () => (await queue.GetStats()).Pending == 0, TimeSpan.FromSeconds(10), "the owner completed its entry");
            var stats = await queue.GetStats();
            Assert.Equal((0, 0, 3L, 1L), (stats.Pending, stats.Running, stats.Requeued, stats.GaveUp));
            Assert.Null(await partition.Lease("a-silo-that-dies", 1));

            // Not cached as a failure: the same request later starts afresh with a full set of attempts.
            var (again, _) = await harness.SubmitAsync(Poison);
            Assert.Equal(JobStatus.Queued, (await harness.Job(again).GetSnapshot()).Status);
            Assert.NotNull(await partition.Lease("a-silo-that-dies", 1));
            Assert.Equal(0, (await owner.GetEntry()).Attempts);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
