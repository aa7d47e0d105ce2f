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
}
