using System.Diagnostics.Metrics;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>What a silo keeps per finished job must go away: memory stays flat under sustained load.</summary>
public sealed class BoundedMemoryTests
{
    private static GenerationSpec Spec(string prompt, long seed) => ClusterHarness.SmallSpec(prompt, seed, steps: 12);

    [Fact]
    public async Task Finished_jobs_leave_no_reminders_in_silo_memory_after_the_refresh_interval()
    {
        // Every job registers a watchdog reminder and removes it when it ends; Orleans keeps each removed reminder as a
        // tombstone until the silo next reads the reminder table (every 5 minutes by default), so at 100 jobs/s a
        // silo held tens of thousands. Diffusion:ReminderRefreshInterval bounds that.
        await using var harness = await ClusterHarness.StartAsync(1, o => o.ReminderRefreshInterval = TimeSpan.FromSeconds(2));
        try
        {
            using var reminders = new LocalReminderCount(harness.Service<IMeterFactory>(harness.ActiveSilos.Single()));

            // Twice: Orleans' first table read comes at a random moment in the first 30 s whatever the interval,
            // so only a second round shows the interval at work.
            for (var round = 0; round < 2; round++)
            {
                var jobs = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => harness.SubmitAsync(Spec($"round {round} job {i}", seed: i))));
                Assert.True(reminders.Read() > 0, "the silo's reminder count is observed (the queued jobs' watchdogs are registered)");

                var finished = await Task.WhenAll(jobs.Select(j => harness.WaitAsync(j.Id)));
                Assert.All(finished, f => Assert.Equal(JobStatus.Succeeded, f.Status));
                await ClusterHarness.EventuallyAsync(
                    () => Task.FromResult(reminders.Read() == 0),
                    TimeSpan.FromSeconds(10),
                    $"round {round}: no reminder left in the silo's memory once every job ended (now {reminders.Read()})");
            }
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    /// <summary>
    /// Orleans' <c>orleans-reminders-active</c> gauge of one silo (the meters its own <see cref="IMeterFactory"/>
    /// made): the reminders its reminder service holds in memory, tombstones included.
    /// </summary>
    private sealed class LocalReminderCount : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Lock _gate = new();
        private long _sum;

        public LocalReminderCount(IMeterFactory silo)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "orleans-reminders-active" && ReferenceEquals(instrument.Meter.Scope, silo))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<int>((_, value, _, _) => _sum += value);
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => _sum += value);
            _listener.Start();
        }

        public long Read()
        {
            lock (_gate)
            {
                _sum = 0;
                _listener.RecordObservableInstruments();
                return _sum;
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
