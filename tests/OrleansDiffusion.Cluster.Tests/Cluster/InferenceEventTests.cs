using System.Collections.Concurrent;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class InferenceEventTests
{
    private sealed class Recorder : IInferenceObserver
    {
        public ConcurrentQueue<InferenceEvent> Events { get; } = new();

        public Task OnInferenceEvent(InferenceEvent inferenceEvent)
        {
            Events.Enqueue(inferenceEvent);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task A_watcher_of_the_owner_gets_every_transition_and_the_steps_numbered_in_order_with_previews()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o => o.Capacity = 0);
        try
        {
            var spec = new GenerationSpec { Prompt = "observed", Steps = 6, Width = 64, Height = 64, Seed = 5, Scheduler = "euler" };
            var (id, submitted) = await harness.SubmitAsync(spec);
            Assert.Equal(JobStatus.Queued, submitted.Status);

            var recorder = new Recorder();
            var reference = harness.Client.CreateObjectReference<IInferenceObserver>(recorder);
            var current = await harness.Client.GetGrain<IResultCacheGrain>(submitted.RequestKey!).Watch(reference);
            Assert.Equal(InferenceEventKind.Queued, current.Current.Kind); // a late watcher starts from the current state
            Assert.Equal(0, current.Current.QueuePosition);

            // Give the cluster capacity: a third silo that runs work.
            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);

            // One-way notifications can overtake each other: wait for all of them, then check what arrived.
            await ClusterHarness.EventuallyAsync(
                () => Task.FromResult(recorder.Events.Any(e => e.Kind == InferenceEventKind.Completed) && recorder.Events.Any(e => e.Kind == InferenceEventKind.Progress && e.Step == 6)),
                TimeSpan.FromSeconds(10),
                "the completed event and the last step's progress");

            // The owner numbers every event: in number order they tell the whole story, each after the current state.
            var events = recorder.Events.OrderBy(e => e.Seq).ToList();
            Assert.Equal(events.Count, events.Select(e => e.Seq).Distinct().Count());
            Assert.All(events, e => Assert.True(e.Seq > current.Current.Seq));
            // Steps that come faster than a report travels coalesce (only the latest waits behind the one in flight), so
            // a tiny model's steps may skip some numbers; they only ever increase, and the last one always arrives.
            var progress = events.Where(e => e.Kind == InferenceEventKind.Progress).ToList();
            Assert.Equal(
                [InferenceEventKind.Started, .. Enumerable.Repeat(InferenceEventKind.Progress, progress.Count), InferenceEventKind.Completed],
                events.Select(e => e.Kind));
            Assert.Equal(progress.Select(p => p.Step).Order().Distinct(), progress.Select(p => p.Step));
            Assert.Equal(6, progress[^1].Step);
            Assert.All(progress, p => Assert.Equal(6, p.TotalSteps));
            Assert.Contains(progress, p => p.Preview is { Length: > 0 });
            Assert.All(progress, p => Assert.NotNull(p.EtaSeconds));
            Assert.Single(events[^1].Images);
            Assert.Equal(done.Images, events[^1].Images);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public void Event_order_applies_only_newer_numbers()
    {
        var order = new EventOrder();
        InferenceEvent At(long seq) => new() { Seq = seq };

        Assert.True(order.TryAdvance(At(5)));
        Assert.False(order.TryAdvance(At(5)));
        Assert.False(order.TryAdvance(At(3)));
        Assert.True(order.TryAdvance(At(9)));
        Assert.Equal(9, order.Last);
    }
}
