using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>A job costs no reminder: stalled work is found by the queue partitions' watchdogs (timers), not per job.</summary>
public sealed class NoReminderTests
{
    [Fact]
    public async Task Jobs_run_on_silos_that_have_no_reminder_service()
    {
        // The harness registers no reminder service: a grain that registered a reminder would throw, and its job fail.
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            var jobs = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => harness.SubmitAsync(ClusterHarness.SmallSpec($"job {i}", i, steps: 4))));
            var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id)));

            Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
            Assert.Null(harness.ActiveSilos.Single().ServiceProvider.GetService<IReminderTable>());
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
