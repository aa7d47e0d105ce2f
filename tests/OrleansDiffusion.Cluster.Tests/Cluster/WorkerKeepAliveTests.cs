using System.Diagnostics;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class WorkerKeepAliveTests
{
    [Fact]
    public async Task A_job_longer_than_ModelUnloadAfter_keeps_its_worker_and_model_which_unload_that_long_after_the_last_run()
    {
        // A job of many seconds against an unload time of 4 s (collected on a 2 s quantum): an activation left to idle
        // collection alone would be gone halfway through, and its model with the run's end.
        var unloadAfter = TimeSpan.FromSeconds(4);
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.MaxBatchSize = 1;
            o.ModelUnloadAfter = unloadAfter;
        }, root: ClusterHarness.CreateRoot(LongJobTests.SlowLayers));
        try
        {
            var models = harness.ModelHostOf(harness.ActiveSilos.Single());
            var management = harness.Client.GetGrain<IManagementGrain>(0);
            async Task<int> WorkersAsync() => (await management.GetSimpleGrainStatistics())
                .Where(s => s.GrainType.Contains("InferenceWorker", StringComparison.Ordinal))
                .Sum(s => s.ActivationCount);

            var (id, _) = await harness.SubmitAsync(LongJobTests.LongSpec("kept alive", 1));
            var late = new List<(int Workers, bool Loaded)>();
            Stopwatch? running = null;
            while (await harness.Job(id).GetSnapshot() is { IsTerminal: false } snapshot)
            {
                if (snapshot.Status == JobStatus.Running)
                {
                    running ??= Stopwatch.StartNew();
                    if (running.Elapsed > unloadAfter + TimeSpan.FromSeconds(3))
                    {
                        // Loaded once the first step is done (the run loads it first).
                        late.Add((await WorkersAsync(), snapshot.Step == 0 || models.LoadedModels.Contains("demo")));
                    }
                }

                await Task.Delay(250, TestContext.Current.CancellationToken);
            }

            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id)).Status);
            Assert.True(late.Count > 0, $"the job ran {running?.Elapsed.TotalSeconds:0.0} s, not long enough past the unload time to sample");
            Assert.All(late, sample => Assert.Equal((1, true), sample));

            // ModelUnloadAfter counts from the run's end: the next job finds the model loaded.
            Assert.Contains("demo", models.LoadedModels);
            var (next, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("right after", 2, steps: 2));
            Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(next)).Status);
            Assert.Equal(1, models.LoadCount("demo"));

            // Idle that long, the worker ends and the model is unloaded.
            var idle = Stopwatch.StartNew();
            await ClusterHarness.EventuallyAsync(
                async () => await WorkersAsync() == 0 && models.LoadedModels.Count == 0,
                unloadAfter + TimeSpan.FromSeconds(20),
                "no inference worker and no loaded model");
            TestContext.Current.TestOutputHelper?.WriteLine($"job ran {running?.Elapsed.TotalSeconds:0.0} s; {late.Count} samples past the unload time; unloaded {idle.Elapsed.TotalSeconds:0.0} s after the last run");
            Assert.True(idle.Elapsed > unloadAfter - TimeSpan.FromSeconds(1), $"unloaded {idle.Elapsed.TotalSeconds:0.0} s after the last run, before ModelUnloadAfter");
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
