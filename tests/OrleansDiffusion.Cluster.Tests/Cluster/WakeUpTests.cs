using System.Net;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class WakeUpTests
{
    [Fact]
    public async Task Idle_silos_are_woken_by_new_work_rather_than_waiting_for_their_next_poll()
    {
        // A poll interval far beyond the test's patience: only the queue's wake-up can start the work in time.
        await using var harness = await ClusterHarness.StartAsync(2, o =>
        {
            o.PollInterval = TimeSpan.FromMinutes(5);
            o.WarmModels = ["demo"];
        });
        try
        {
            // Let both pumps find the queue empty and go to sleep.
            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);

            for (var i = 0; i < 3; i++)
            {
                var (id, _) = await harness.SubmitAsync(new GenerationSpec { Prompt = $"wake {i}", Seed = i, Steps = 2, Width = 64, Height = 64 });
                var job = await harness.WaitAsync(id, TimeSpan.FromSeconds(60)); // a poll would come after 5 minutes

                Assert.Equal(JobStatus.Succeeded, job.Status);
                await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_dead_silos_pumps_are_woken_no_more_once_it_is_declared_dead()
    {
        await using var harness = await ClusterHarness.StartAsync(3, o => o.WarmModels = ["demo"]);
        try
        {
            var silos = harness.Cluster.Silos.Select(s => s.SiloAddress.ToParsableString()).ToList();
            await ClusterHarness.EventuallyAsync(
                async () => (await CountsAsync(harness)).All(c => silos.All(c.IdleBySilo.ContainsKey)),
                TimeSpan.FromSeconds(30),
                "every silo's idle pump subscribed to every partition");

            var victim = harness.Cluster.Silos[2];
            var dead = victim.SiloAddress.ToParsableString();
            harness.RunnerOf(victim).SimulateProcessDeath();
            await harness.Cluster.KillSiloAsync(victim, TestContext.Current.CancellationToken);

            // Long before its subscriptions would lapse (90 s), the partitions drop them.
            await ClusterHarness.EventuallyAsync(
                async () => (await TryCountsAsync(harness)) is { } counts && counts.All(c => !c.IdleBySilo.ContainsKey(dead)),
                TimeSpan.FromSeconds(30),
                "the dead silo's pumps dropped from every partition");
            var before = await CountsAsync(harness);

            // New work wakes the living silos' pumps, and none of the dead one's.
            for (var i = 0; i < 4; i++)
            {
                var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec($"after the death {i}", seed: i, steps: 2));
                Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id, TimeSpan.FromSeconds(60))).Status);
            }

            var after = await CountsAsync(harness);
            Assert.Equal(WakeUpsOf(before, dead), WakeUpsOf(after, dead));
            Assert.True(silos.Where(s => s != dead).Sum(s => WakeUpsOf(after, s)) > silos.Where(s => s != dead).Sum(s => WakeUpsOf(before, s)));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_pump_that_a_wake_up_cannot_reach_is_dropped()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o => o.WarmModels = ["demo"]);
        try
        {
            // A subscriber on a silo the cluster has never heard of (so never declared dead) whose wake-ups fail.
            var nowhere = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 9), 1).ToParsableString();
            var unreachable = harness.Client.CreateObjectReference<IWorkAvailableObserver>(new UnreachablePump());
            foreach (var partition in Partitions)
            {
                await harness.Client.GetGrain<IQueuePartitionGrain>(partition).Subscribe(unreachable, nowhere);
            }

            Assert.All(await CountsAsync(harness), c => Assert.Equal(1, c.IdleBySilo.GetValueOrDefault(nowhere)));
            var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("wake them", seed: 1, steps: 2));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id, TimeSpan.FromSeconds(60))).Status);

            // The partition that took the work tried once, failed, and dropped it; the others never tried.
            await ClusterHarness.EventuallyAsync(
                async () => (await CountsAsync(harness)).Any(c => c.WakeUpsBySilo.GetValueOrDefault(nowhere) == 1 && !c.IdleBySilo.ContainsKey(nowhere)),
                TimeSpan.FromSeconds(10),
                "the unreachable pump dropped by the partition that woke it");
            Assert.All((await CountsAsync(harness)).Where(c => c.WakeUpsBySilo.ContainsKey(nowhere)), c => Assert.False(c.IdleBySilo.ContainsKey(nowhere)));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    private static readonly string[] Partitions = [.. QueuePartitions.All(["demo"], new Grains.Hosting.DiffusionOptions().QueuePartitions)];

    private static async Task<PartitionCounts[]> CountsAsync(ClusterHarness harness) =>
        await Task.WhenAll(Partitions.Select(p => harness.Client.GetGrain<IQueuePartitionGrain>(p).GetCounts()));

    /// <summary>The counts, or null while a partition that lived on a killed silo is not reachable yet.</summary>
    private static async Task<PartitionCounts[]?> TryCountsAsync(ClusterHarness harness)
    {
        try
        {
            return await CountsAsync(harness);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null;
        }
    }

    private static long WakeUpsOf(PartitionCounts[] counts, string silo) => counts.Sum(c => c.WakeUpsBySilo.GetValueOrDefault(silo));

    /// <summary>A pump no wake-up reaches: the call fails, as one to a silo that died does.</summary>
    private sealed class UnreachablePump : IWorkAvailableObserver
    {
        public Task WorkAvailable(string partition) => throw new InvalidOperationException("This pump cannot be reached.");
    }
}
