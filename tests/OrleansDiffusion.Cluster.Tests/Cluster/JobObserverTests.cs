using System.Collections.Concurrent;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class JobObserverTests
{
    private sealed class Recorder : IJobObserver
    {
        public ConcurrentQueue<JobEvent> Events { get; } = new();

        public Task OnJobEvent(JobEvent jobEvent)
        {
            Events.Enqueue(jobEvent);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Observers_get_every_transition_and_step_with_previews()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o => o.Capacity = 0);
        try
        {
            var spec = new GenerationSpec { Prompt = "observed", Steps = 6, Width = 64, Height = 64, Seed = 5, Scheduler = "euler" };
            var (id, submitted) = await harness.SubmitAsync(spec);
            Assert.Equal(JobStatus.Queued, submitted.Status);

            var recorder = new Recorder();
            var reference = harness.Client.CreateObjectReference<IJobObserver>(recorder);
            var current = await harness.Job(id).Subscribe(reference);
            Assert.Equal(JobStatus.Queued, current.Status); // a late subscriber starts from the current state
            Assert.Equal(0, current.QueuePosition);

            // Give the cluster capacity: a third silo that runs work.
            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);
            // One-way notifications can overtake each other: wait for all of them, then check what arrived.
            await ClusterHarness.EventuallyAsync(
                () => Task.FromResult(recorder.Events.Any(e => e.Kind == JobEventKind.Completed) && recorder.Events.Count(e => e.Kind == JobEventKind.Progress) >= 6),
                TimeSpan.FromSeconds(10),
                "the completed event and six progress events");

            var events = recorder.Events.ToList();
            Assert.Equal(JobEventKind.Started, events.First(e => e.Kind != JobEventKind.Progress).Kind);
            var progress = events.Where(e => e.Kind == JobEventKind.Progress).ToList();
            // Every step arrives; one-way notifications may overtake each other, so each carries its step to order by.
            Assert.Equal([1, 2, 3, 4, 5, 6], progress.Select(p => p.Snapshot.Step).Order());
            Assert.All(progress, p => Assert.Equal(6, p.Snapshot.TotalSteps));
            Assert.Contains(progress, p => p.Preview is { Length: > 0 });
            Assert.NotNull(progress[^2].EtaSeconds);
            var completed = Assert.Single(events, e => e.Kind == JobEventKind.Completed);
            Assert.Single(completed.Snapshot.Images);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
