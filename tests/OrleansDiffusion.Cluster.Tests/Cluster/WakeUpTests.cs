using System.Net;
using Orleans.Runtime;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Workers;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class WakeUpTests
{
    private static readonly string[] Partitions = [.. QueuePartitions.All(["demo"], new Grains.Hosting.DiffusionOptions().QueuePartitions)];

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

            // The victim: a secondary silo hosting as few partitions as possible (a partition on it dies with it and
            // comes back elsewhere with no subscriber and counts from zero). It dies without a word: its pump does not
            // unsubscribe, its runs stop.
            var management = harness.Client.GetGrain<IManagementGrain>(0);
            var hosts = new Dictionary<string, SiloAddress?>();
            foreach (var partition in Partitions)
            {
                hosts[partition] = await management.GetActivationAddress(harness.Client.GetGrain<IQueuePartitionGrain>(partition), TestContext.Current.CancellationToken);
            }

            var victim = harness.Cluster.Silos.Skip(1).OrderBy(s => hosts.Values.Count(h => s.SiloAddress.Equals(h))).First();
            var dead = victim.SiloAddress.ToParsableString();
            var surviving = Partitions.Where(p => !victim.SiloAddress.Equals(hosts[p])).ToList();
            harness.Service<WorkerPump>(victim).SimulateProcessDeath();
            harness.RunnerOf(victim).SimulateProcessDeath();
            await harness.Cluster.KillSiloAsync(victim, TestContext.Current.CancellationToken);

            // Long before its subscriptions would lapse (90 s), the partitions drop them.
            await ClusterHarness.EventuallyAsync(
                async () => (await TryCountsAsync(harness)) is { } counts && counts.All(c => !c.IdleBySilo.ContainsKey(dead)),
                TimeSpan.FromSeconds(30),
                "the dead silo's pumps dropped from every partition");
            var before = (await CountsAsync(harness)).Where(c => surviving.Contains(c.Partition)).ToList();

            // New work wakes the living silos' pumps, and none of the dead one's.
            for (var i = 0; i < 8; i++)
            {
                var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec($"after the death {i}", seed: i, steps: 2));
                Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id, TimeSpan.FromSeconds(60))).Status);
            }

            var after = (await CountsAsync(harness)).Where(c => surviving.Contains(c.Partition)).ToList();
            Assert.NotEmpty(surviving);
            Assert.Equal(WakeUpsOf(before, dead), WakeUpsOf(after, dead));
            Assert.True(silos.Where(s => s != dead).Sum(s => WakeUpsOf(after, s)) > silos.Where(s => s != dead).Sum(s => WakeUpsOf(before, s)), "no wake-up counted at all");
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
            // A subscriber on a silo the cluster has not heard of yet (a generation later than the live silo's: not
            // presumed dead, as an older unknown one is), whose wake-ups fail.
            var live = harness.Cluster.Silos[0].SiloAddress;
            var nowhere = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 9), live.Generation + 1000).ToParsableString();
            Assert.Equal(SiloStatus.None, harness.Service<IClusterMembershipService>(harness.Cluster.Silos[0]).CurrentSnapshot.GetSiloStatus(SiloAddress.FromParsableString(nowhere)));
            var unreachable = harness.Client.CreateObjectReference<IWorkAvailableObserver>(new UnreachablePump());
            foreach (var partition in Partitions)
            {
                await harness.Client.GetGrain<IQueuePartitionGrain>(partition).Subscribe(unreachable, nowhere);
            }

            Assert.All(await CountsAsync(harness), c => Assert.Equal(1, c.IdleBySilo.GetValueOrDefault(nowhere)));
            var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("wake them", seed: 1, steps: 2));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id, TimeSpan.FromSeconds(60))).Status);

            // The partition that took the work tried once, failed, and dropped it; the others never tried.
            try
            {
                await ClusterHarness.EventuallyAsync(
                    async () => (await CountsAsync(harness)).Any(c => c.WakeUpsBySilo.GetValueOrDefault(nowhere) == 1 && !c.IdleBySilo.ContainsKey(nowhere)),
                    TimeSpan.FromSeconds(10),
                    "the unreachable pump dropped by the partition that woke it");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException(e.Message + " " + string.Join("; ", (await CountsAsync(harness)).Select(c => $"{c.Partition}: idle {string.Join(",", c.IdleBySilo)} woken {string.Join(",", c.WakeUpsBySilo)}")), e);
            }
            Assert.All((await CountsAsync(harness)).Where(c => c.WakeUpsBySilo.ContainsKey(nowhere)), c => Assert.False(c.IdleBySilo.ContainsKey(nowhere)));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

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

    private static long WakeUpsOf(IEnumerable<PartitionCounts> counts, string silo) => counts.Sum(c => c.WakeUpsBySilo.GetValueOrDefault(silo));

    /// <summary>A pump no wake-up reaches: the call fails, as one to a silo that died does.</summary>
    private sealed class UnreachablePump : IWorkAvailableObserver
    {
        public Task WorkAvailable(string partition) => throw new InvalidOperationException("This pump cannot be reached.");
    }
}
