using Orleans.TestingHost;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Workers;

namespace OrleansDiffusion.Cluster.Tests.Scaling;

public sealed class AutoscalingTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Following_the_signal_the_cluster_grows_from_one_silo_to_three_and_back_and_runs_every_job_exactly_once()
    {
        // Grain state in Azurite: a silo that scales in hands its grains to the others through durable storage.
        var root = ClusterHarness.CreateRoot(unetExtraConvLayers: 800);
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.MaxBatchSize = 1;
            o.DrainTimeout = TimeSpan.FromSeconds(60); // scale-in lets running work finish: nothing runs twice
            o.Scaling.MinSilos = 1;
            o.Scaling.MaxSilos = 3;
            o.Scaling.WorkPerSilo = 2;
            o.Scaling.ScaleInDelay = TimeSpan.FromSeconds(2);
        }, azurite.ConnectionString, root);
        var queue = harness.Client.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);
        try
        {
            Assert.Equal(1, (await queue.GetScaleSignal()).DesiredSilos);
            await using var autoscaler = SignalFollower.Start(harness, queue);

            var jobs = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => harness.SubmitAsync(Spec($"scale out {i}", i))));
            var burst = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id, TimeSpan.FromSeconds(240))));

            // Work keeps arriving, one job at a time, while the cluster shrinks: leaving silos must not lose or repeat it.
            var trickle = new List<JobSnapshot>();
            for (var i = 0; i < 6; i++)
            {
                var (id, _) = await harness.SubmitAsync(Spec($"scale in {i}", 100 + i));
                trickle.Add(await harness.WaitAsync(id, TimeSpan.FromSeconds(120)));
            }

            await ClusterHarness.EventuallyAsync(() => Task.FromResult(autoscaler.Silos == 1), TimeSpan.FromSeconds(90), "the cluster back at one silo");
            await autoscaler.StopAsync();
            var finished = burst.Concat(trickle).ToList();

            Assert.Equal(3, autoscaler.PeakSilos);
            Assert.Single(harness.ActiveSilos);
            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            Assert.True(burst.Select(f => f.Silo).Distinct().Count() >= 2, $"work ran on the added silos: {string.Join(", ", burst.Select(f => f.Silo))}");

            // Exactly once: one inference per request, cluster-wide, counting the silos that have left.
            Assert.Equal(18, autoscaler.Runners.Sum(r => r.CompletedItems));
            foreach (var job in finished)
            {
                Assert.Equal(1, (await harness.Client.GetGrain<IResultCacheGrain>(job.RequestKey!).GetEntry()).Inferences);
            }

            // (A silo that leased work just as it was told to stop hands it back before starting it: a requeue, not a
            // second inference, so the requeue count is not asserted.)
            // The cache entries tell their jobs first and then take their work off the queue: it empties just after.
            await ClusterHarness.EventuallyAsync(async () => (await queue.GetStats()) is { Pending: 0, Running: 0 }, TimeSpan.FromSeconds(10), "an empty queue");
            Assert.Equal(1, (await queue.GetScaleSignal()).DesiredSilos);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    private static GenerationSpec Spec(string prompt, int seed) => ClusterHarness.SmallSpec(prompt, seed, steps: 40);

    /// <summary>
    /// What KEDA and the Kubernetes HPA do with the signal, in process: every quarter second it sets the number of
    /// silos to the desired count, starting silos or stopping the newest ones gracefully.
    /// </summary>
    private sealed class SignalFollower : IAsyncDisposable
    {
        private readonly ClusterHarness _harness;
        private readonly IWorkQueueGrain _queue;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<InProcessSiloHandle> _added = [];
        private readonly List<InferenceRunner> _runners = [];
        private Task _loop = Task.CompletedTask;

        private SignalFollower(ClusterHarness harness, IWorkQueueGrain queue)
        {
            _harness = harness;
            _queue = queue;
            _runners.AddRange(harness.ActiveSilos.Select(harness.RunnerOf));
        }

        public int Silos { get; private set; } = 1;

        public int PeakSilos { get; private set; } = 1;

        /// <summary>The runners of every silo that ever ran, including those stopped since.</summary>
        public IReadOnlyList<InferenceRunner> Runners
        {
            get
            {
                lock (_runners)
                {
                    return [.. _runners];
                }
            }
        }

        public static SignalFollower Start(ClusterHarness harness, IWorkQueueGrain queue)
        {
            var follower = new SignalFollower(harness, queue);
            follower._loop = follower.RunAsync();
            return follower;
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _loop;
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop.Dispose();
        }

        private async Task RunAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                var desired = (await _queue.GetScaleSignal()).DesiredSilos;
                if (desired > Silos)
                {
                    var silo = await _harness.Cluster.StartAdditionalSiloAsync();
                    _added.Add(silo);
                    lock (_runners)
                    {
                        _runners.Add(_harness.RunnerOf(silo));
                    }
                }
                else if (desired < Silos && _added.Count > 0)
                {
                    var silo = _added[^1];
                    await _harness.Cluster.StopSiloAsync(silo);
                    _added.RemoveAt(_added.Count - 1);
                }

                Silos = 1 + _added.Count;
                PeakSilos = Math.Max(PeakSilos, Silos);
                try
                {
                    await Task.Delay(250, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
