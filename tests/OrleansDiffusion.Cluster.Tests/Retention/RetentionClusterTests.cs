using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Jobs;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Retention;

namespace OrleansDiffusion.Cluster.Tests.Retention;

/// <summary>
/// Retention on real clusters (state in memory, images on local disk). Periods are an hour and the sweep is run with a
/// "now" an hour or more ahead, so that which items are due is exact; the wall clock is used where the grains decide
/// alone (a finished job past its period, a result past its period).
/// </summary>
public sealed class RetentionClusterTests
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static GenerationSpec Spec(string prompt, long seed) => ClusterHarness.SmallSpec(prompt, seed, steps: 4);

    [Fact]
    public async Task Items_past_their_period_are_deleted_younger_ones_stay_and_a_deleted_result_is_computed_again()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Retention = RetentionProbe.Hourly());
        try
        {
            var old = await harness.RunAsync(Spec("old", 1));
            var oldInput = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(1), Ct);
            var oldImg2Img = await harness.RunAsync(RetentionProbe.Img2Img("old img2img", 2, oldInput));
            var boundary = await BoundaryAsync();
            var young = await harness.RunAsync(Spec("young", 3));
            var youngInput = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(2), Ct);
            var youngImg2Img = await harness.RunAsync(RetentionProbe.Img2Img("young img2img", 4, youngInput));

            var report = await harness.SweepAsync(boundary + Hour);

            Assert.Equal(new RetentionSweepReport { At = boundary + Hour, JobsDeleted = 2, ResultsExpired = 2, ImagesDeleted = 2, InputsDeleted = 1 }, report);
            foreach (var job in new[] { old, oldImg2Img })
            {
                Assert.Equal(JobStatus.None, (await harness.Job(job.Id).GetSnapshot()).Status);
                Assert.False(await harness.JobRecordExistsAsync(job.Id));
                Assert.False(await harness.CacheRecordExistsAsync(job.RequestKey!));
                Assert.False(await harness.StoredAsync(Assert.Single(job.Images).Key));
            }

            Assert.False(await harness.StoredAsync(oldInput));
            foreach (var job in new[] { young, youngImg2Img })
            {
                Assert.Equal(JobStatus.Succeeded, (await harness.Job(job.Id).GetSnapshot()).Status);
                Assert.True(await harness.JobRecordExistsAsync(job.Id));
                Assert.Equal(CacheEntryStatus.Done, (await harness.Client.GetGrain<IResultCacheGrain>(job.RequestKey!).GetEntry()).Status);
                Assert.True(await harness.StoredAsync(Assert.Single(job.Images).Key));
            }

            Assert.True(await harness.StoredAsync(youngInput));

            // The marks of what was deleted are gone, those of what stays are there.
            Assert.Equal(new[] { young.Id, youngImg2Img.Id }.Order(), (await harness.MarksAsync(RetentionKind.Jobs)).Select(m => Guid.Parse(m.Id)).Order());
            Assert.Equal(new[] { young.RequestKey!, youngImg2Img.RequestKey! }.Order(), (await harness.MarksAsync(RetentionKind.Results)).Select(m => m.Id).Order());
            Assert.All(await harness.MarksAsync(RetentionKind.Inputs), m => Assert.Equal(youngInput, "inputs/" + m.Id));
            Assert.Equal(youngInput, "inputs/" + Assert.Single(await harness.MarksAsync(RetentionKind.InputUses)).Id.Split('.')[0]);

            // The same request as a deleted result computes again (its entry no longer answers) and stores its image again.
            var runner = harness.RunnerOf(harness.ActiveSilos.Single());
            var runs = runner.CompletedRuns;
            var again = await harness.RunAsync(Spec("old", 1));
            Assert.False(again.Cached);
            Assert.Equal(runs + 1, runner.CompletedRuns);
            Assert.Equal(old.Images[0].Key, again.Images[0].Key);
            Assert.True(await harness.StoredAsync(again.Images[0].Key));
            Assert.Equal(1, (await harness.Client.GetGrain<IResultCacheGrain>(again.RequestKey!).GetEntry()).Inferences);

            // Sweeping again finds nothing more to do.
            Assert.Equal(new RetentionSweepReport { At = boundary + Hour }, await harness.SweepAsync(boundary + Hour));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task An_image_shared_with_a_live_cache_entry_stays_until_that_entry_expires()
    {
        // Per-key results: alice and bob ask the same, so two entries hold the same picture.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Retention = RetentionProbe.Hourly();
            o.Cache.Scope = CacheScope.Key;
        });
        try
        {
            var spec = Spec("one picture, two owners", 5);
            var alice = await harness.RunAsync(spec, "alice");
            var boundary = await BoundaryAsync();
            var bob = await harness.RunAsync(spec, "bob");
            Assert.NotEqual(alice.RequestKey, bob.RequestKey);
            var image = Assert.Single(alice.Images).Key;
            Assert.Equal(image, Assert.Single(bob.Images).Key);

            var first = await harness.SweepAsync(boundary + Hour);

            Assert.Equal((1, 1, 0), (first.JobsDeleted, first.ResultsExpired, first.ImagesDeleted));
            Assert.True(await harness.StoredAsync(image));
            var bobAgain = await harness.RunAsync(spec, "bob");
            Assert.True(bobAgain.Cached);
            Assert.NotNull(await harness.Images().ReadAsync(image, Ct));

            var second = await harness.SweepAsync(DateTimeOffset.UtcNow + Hour + TimeSpan.FromSeconds(1));

            Assert.Equal((1, 1), (second.ResultsExpired, second.ImagesDeleted));
            Assert.False(await harness.StoredAsync(image));
            var aliceAgain = await harness.RunAsync(spec, "alice");
            Assert.False(aliceAgain.Cached);
            Assert.True(await harness.StoredAsync(image));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task An_input_stays_while_a_job_that_uses_it_waits_and_goes_a_period_after_its_last_use()
    {
        // No silo runs work at first: the job waits in the queue for longer than the inputs period.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Retention = RetentionProbe.Hourly();
            o.Capacity = 0;
        });
        try
        {
            var input = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(3), Ct);
            var (id, submitted) = await harness.SubmitAsync(RetentionProbe.Img2Img("waits a day", 6, input));
            Assert.Equal(JobStatus.Queued, submitted.Status);

            var aDayLater = DateTimeOffset.UtcNow + TimeSpan.FromDays(1);
            var waiting = await harness.SweepAsync(aDayLater);

            // Both the job (unfinished) and its input (used by a queued inference) are kept.
            Assert.Equal(new RetentionSweepReport { At = aDayLater, Kept = 2 }, waiting);
            Assert.True(await harness.StoredAsync(input));
            Assert.Equal(JobStatus.Queued, (await harness.Job(id).GetSnapshot()).Status);

            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);

            var afterUse = await harness.SweepAsync(aDayLater + Hour + TimeSpan.FromSeconds(1));

            Assert.Equal((1, 1, 1, 1), (afterUse.JobsDeleted, afterUse.ResultsExpired, afterUse.ImagesDeleted, afterUse.InputsDeleted));
            Assert.False(await harness.StoredAsync(input));
            Assert.Empty(await harness.MarksAsync(RetentionKind.Inputs));
            Assert.Empty(await harness.MarksAsync(RetentionKind.InputUses));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_mask_is_kept_while_its_job_waits_and_deleted_a_period_after_its_last_use_as_an_init_image_is()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Retention = RetentionProbe.Hourly();
            o.Capacity = 0;
        });
        try
        {
            var input = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(4), Ct);
            var mask = await harness.Images().SaveInputAsync(RetentionProbe.Mask(), Ct);
            var (id, submitted) = await harness.SubmitAsync(RetentionProbe.Img2Img("a masked wait", 8, input) with { MaskKey = mask });
            Assert.Equal(JobStatus.Queued, submitted.Status);
            Assert.Contains(await harness.MarksAsync(RetentionKind.Inputs), m => InputUse.InputKeyOf(m.Id) == mask);

            var aDayLater = DateTimeOffset.UtcNow + TimeSpan.FromDays(1);
            var waiting = await harness.SweepAsync(aDayLater);

            // The job (unfinished) and both inputs (each used by the queued inference) are kept.
            Assert.Equal(new RetentionSweepReport { At = aDayLater, Kept = 3 }, waiting);
            Assert.True(await harness.StoredAsync(input));
            Assert.True(await harness.StoredAsync(mask));

            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            var done = await harness.WaitAsync(id);
            Assert.Equal(JobStatus.Succeeded, done.Status);

            var afterUse = await harness.SweepAsync(aDayLater + Hour + TimeSpan.FromSeconds(1));

            Assert.Equal(2, afterUse.InputsDeleted);
            Assert.False(await harness.StoredAsync(input));
            Assert.False(await harness.StoredAsync(mask));
            Assert.Empty(await harness.MarksAsync(RetentionKind.Inputs));
            Assert.Empty(await harness.MarksAsync(RetentionKind.InputUses));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Cancelled_and_failed_inferences_leave_no_record_after_their_period()
    {
        // Init images kept for ever: nothing checks them at submission, so a missing one fails the inference itself.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Retention = RetentionProbe.Hourly();
            o.Retention.Inputs = TimeSpan.Zero;
            o.Capacity = 0;
        });
        try
        {
            var (cancelledId, _) = await harness.SubmitAsync(Spec("cancelled", 13));
            var cancelled = await harness.Job(cancelledId).Cancel();
            Assert.Equal(JobStatus.Cancelled, cancelled.Status);

            harness.NewSiloCapacity = 1;
            await harness.Cluster.StartAdditionalSiloAsync();
            var (failedId, _) = await harness.SubmitAsync(RetentionProbe.Img2Img("failed", 14, "inputs/" + new string('0', 64)));
            var failed = await harness.WaitAsync(failedId);
            Assert.Equal(JobStatus.Failed, failed.Status);
            Assert.True(await harness.CacheRecordExistsAsync(cancelled.RequestKey!));
            Assert.True(await harness.CacheRecordExistsAsync(failed.RequestKey!));

            var report = await harness.SweepAsync(DateTimeOffset.UtcNow + Hour + TimeSpan.FromSeconds(1));

            Assert.Equal((2, 2, 0), (report.JobsDeleted, report.ResultsExpired, report.ImagesDeleted));
            Assert.False(await harness.CacheRecordExistsAsync(cancelled.RequestKey!));
            Assert.False(await harness.CacheRecordExistsAsync(failed.RequestKey!));
            Assert.False(await harness.JobRecordExistsAsync(cancelledId));
            Assert.False(await harness.JobRecordExistsAsync(failedId));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task An_old_job_that_never_reached_its_inference_is_deleted_not_run()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Retention = RetentionProbe.Hourly());
        try
        {
            // A record as a job leaves it when its API process dies between saving it and joining the inference.
            var id = Guid.NewGuid();
            var created = DateTimeOffset.UtcNow;
            var catalog = harness.Service<ModelCatalog>(harness.ActiveSilos.Single());
            var spec = catalog.Normalize(Spec("never joined", 12));
            var requestKey = catalog.KeyOf(spec, "test");
            await harness.WriteJobRecordAsync(id, new JobState { Status = JobStatus.Queued, Spec = spec, ApiKey = "test", RequestKey = requestKey, CreatedAt = created });
            await harness.Marks().MarkAsync(new RetentionMark(RetentionKind.Jobs, id.ToString("N"), created), Ct);

            var report = await harness.SweepAsync(created + Hour + TimeSpan.FromSeconds(1));

            Assert.Equal((1, 0), (report.JobsDeleted, report.Kept));
            Assert.False(await harness.JobRecordExistsAsync(id));
            var entry = await harness.Client.GetGrain<IResultCacheGrain>(requestKey).GetEntry();
            Assert.Equal((CacheEntryStatus.Empty, 0), (entry.Status, entry.Waiting));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_group_of_job_marks_goes_once_its_jobs_were_handled_and_a_waiting_job_is_marked_again_alone()
    {
        // Capacity 0: the submitted job waits for ever, so its inference keeps it.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Capacity = 0;
            o.Retention = RetentionProbe.Hourly();
        });
        try
        {
            var waiting = await harness.SubmitAsync(Spec("waits", 1));
            var neverJoined = Guid.NewGuid();
            var created = DateTimeOffset.UtcNow;
            var catalog = harness.Service<ModelCatalog>(harness.ActiveSilos.Single());
            var spec = catalog.Normalize(Spec("never joined", 2));
            await harness.WriteJobRecordAsync(neverJoined, new JobState { Status = JobStatus.Queued, Spec = spec, ApiKey = "test", RequestKey = catalog.KeyOf(spec, "test"), CreatedAt = created });

            // The two jobs' marks in one group, as the marker writes them under load (beside the waiting job's own mark).
            var group = RetentionMarkSet.Of([new(RetentionKind.Jobs, neverJoined.ToString("N"), created), new(RetentionKind.Jobs, waiting.Id.ToString("N"), created)]);
            await harness.Marks().MarkAsync(group, Ct);
            var now = created + Hour + TimeSpan.FromMinutes(1);

            var report = await harness.SweepAsync(now);

            Assert.Equal((1, 2, 0), (report.JobsDeleted, report.Kept, report.Failed)); // the waiting job twice: its two marks
            Assert.False(await harness.JobRecordExistsAsync(neverJoined));
            Assert.True(await harness.JobRecordExistsAsync(waiting.Id));
            var left = await harness.MarksAsync(RetentionKind.Jobs);
            Assert.DoesNotContain(left, m => m.Id == neverJoined.ToString("N"));
            Assert.Contains(left, m => m.Id == waiting.Id.ToString("N") && m.At == now);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_group_mark_whose_handling_failed_is_written_back_and_handled_by_the_next_sweep()
    {
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Retention = RetentionProbe.Hourly());
        try
        {
            var inputs = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                inputs.Add(await harness.Images().SaveInputAsync(RetentionProbe.InitImage(20 + i), Ct));
            }

            var saved = DateTimeOffset.UtcNow;
            var marks = inputs.Select(i => new RetentionMark(RetentionKind.Inputs, InputUse.InputIdOf(i), saved)).ToList();
            await harness.Marks().MarkAsync(RetentionMarkSet.Of(marks), Ct);
            var failing = new FailingDeletes(harness.Marks()) { Failing = inputs[1] };
            var silo = harness.ActiveSilos.Single();
            var sweeper = new RetentionSweeper(
                harness.Client,
                failing,
                Microsoft.Extensions.Options.Options.Create(new DiffusionOptions { Retention = RetentionProbe.Hourly() }),
                harness.Service<DiffusionMetrics>(silo),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<RetentionSweeper>.Instance);
            var now = saved + Hour + TimeSpan.FromMinutes(1);

            await harness.FlushMarksAsync();
            var first = await sweeper.SweepAsync(now, Ct);

            Assert.Equal((2, 1), (first.InputsDeleted, first.Failed));
            var stored = await Task.WhenAll(inputs.Select(harness.StoredAsync));
            Assert.Equal([false, true, false], stored);
            Assert.Equal([marks[1]], await harness.MarksAsync(RetentionKind.Inputs));

            failing.Failing = null;
            var second = await sweeper.SweepAsync(now, Ct);

            Assert.Equal((1, 0), (second.InputsDeleted, second.Failed));
            Assert.False(await harness.StoredAsync(inputs[1]));
            Assert.Empty(await harness.MarksAsync(RetentionKind.Inputs));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Two_sweeps_at_once_delete_each_item_once_and_keep_the_rest()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o => o.Retention = RetentionProbe.Hourly());
        try
        {
            var old = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => harness.RunAsync(Spec($"old {i}", i))));
            var input = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(4), Ct);
            var oldImg2Img = await harness.RunAsync(RetentionProbe.Img2Img("old img2img", 9, input));
            var boundary = await BoundaryAsync();
            var young = await harness.RunAsync(Spec("young", 10));
            var now = boundary + Hour;

            await harness.FlushMarksAsync();
            var reports = await Task.WhenAll(harness.ActiveSilos.Select(silo => Task.Run(() => harness.Sweeper(silo).SweepAsync(now, Ct), Ct)));

            Assert.All(reports, r => Assert.Equal(0, r.Failed));
            Assert.Equal((5, 5, 5, 1), (reports.Sum(r => r.JobsDeleted), reports.Sum(r => r.ResultsExpired), reports.Sum(r => r.ImagesDeleted), reports.Sum(r => r.InputsDeleted)));
            foreach (var job in old.Append(oldImg2Img))
            {
                Assert.False(await harness.JobRecordExistsAsync(job.Id));
                Assert.False(await harness.StoredAsync(job.Images[0].Key));
            }

            Assert.Equal(JobStatus.Succeeded, (await harness.Job(young.Id).GetSnapshot()).Status);
            Assert.True(await harness.StoredAsync(young.Images[0].Key));
            Assert.Equal(young.Id, Guid.Parse(Assert.Single(await harness.MarksAsync(RetentionKind.Jobs)).Id));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task One_silo_sweeps_at_a_time_and_another_takes_over_when_it_leaves()
    {
        await using var harness = await ClusterHarness.StartAsync(2, o =>
        {
            o.Retention = RetentionProbe.Hourly();
            o.Retention.SweepInterval = TimeSpan.FromMilliseconds(300);
        });
        try
        {
            long Sweeps(Orleans.TestingHost.InProcessSiloHandle silo) => harness.Sweeper(silo).Sweeps;
            await ClusterHarness.EventuallyAsync(() => Task.FromResult(harness.ActiveSilos.Sum(Sweeps) >= 5), TimeSpan.FromSeconds(60), "five timer sweeps");

            // Both silos touch the reaper; it lives, and sweeps, on one of them.
            var sweeping = Assert.Single(harness.ActiveSilos, s => Sweeps(s) > 0);
            var other = Assert.Single(harness.ActiveSilos, s => s != sweeping);
            Assert.Equal(0, Sweeps(other));
            Assert.NotNull(await harness.Client.GetGrain<IRetentionReaperGrain>(IRetentionReaperGrain.DefaultKey).GetLastSweep());

            await harness.Cluster.StopSiloAsync(sweeping, Ct);

            await ClusterHarness.EventuallyAsync(() => Task.FromResult(Sweeps(other) >= 3), TimeSpan.FromSeconds(60), "the remaining silo sweeping");
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task Grains_apply_the_periods_by_the_clock_before_any_sweep()
    {
        var retention = new RetentionOptions
        {
            Jobs = TimeSpan.FromSeconds(4),
            Results = TimeSpan.FromSeconds(12),
            Inputs = Hour,
            SweepInterval = TimeSpan.FromDays(1),
        };
        await using var harness = await ClusterHarness.StartAsync(1, o => o.Retention = retention);
        try
        {
            var spec = Spec("by the clock", 11);
            var first = await harness.RunAsync(spec);
            var completed = first.CompletedAt!.Value;

            // A finished job past its period answers as unknown at once; its record waits for the sweep.
            await UntilAsync(first.CreatedAt + TimeSpan.FromSeconds(4.2));
            Assert.Equal(JobStatus.None, (await harness.Job(first.Id).GetSnapshot()).Status);
            Assert.True(await harness.JobRecordExistsAsync(first.Id));

            // A hit in the result's last Jobs period starts the results period again: a sweep at the first period's end keeps it.
            await UntilAsync(completed + TimeSpan.FromSeconds(8.5));
            var hit = await harness.RunAsync(spec);
            var hitAt = DateTimeOffset.UtcNow;
            Assert.True(hit.Cached);
            var swept = await harness.SweepAsync(completed + TimeSpan.FromSeconds(12.5));
            Assert.Equal((0, 0), (swept.ResultsExpired, swept.ImagesDeleted));
            Assert.True(await harness.StoredAsync(first.Images[0].Key));

            // Past the renewed period, without a sweep, the same request computes again.
            await UntilAsync(hitAt + TimeSpan.FromSeconds(12.2));
            var again = await harness.RunAsync(spec);
            Assert.False(again.Cached);
            Assert.Equal(2, (await harness.Client.GetGrain<IResultCacheGrain>(again.RequestKey!).GetEntry()).Inferences);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    /// <summary>A time strictly after everything so far and strictly before everything from now on (marks are to the tick).</summary>
    private static async Task<DateTimeOffset> BoundaryAsync()
    {
        await Task.Delay(TimeSpan.FromMilliseconds(600), Ct);
        var boundary = DateTimeOffset.UtcNow;
        await Task.Delay(TimeSpan.FromMilliseconds(600), Ct);
        return boundary;
    }

    private static async Task UntilAsync(DateTimeOffset at)
    {
        var wait = at - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Ct);
        }
    }

    /// <summary>The cluster's own store, with deletes of one key failing as storage faults do.</summary>
    private sealed class FailingDeletes(IRetentionStore inner) : IRetentionStore
    {
        public string? Failing { get; set; }

        public Task MarkAsync(RetentionMarkSet marks, CancellationToken cancellationToken) => inner.MarkAsync(marks, cancellationToken);

        public IAsyncEnumerable<RetentionMarkSet> ListMarksAsync(RetentionKind kind, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
            inner.ListMarksAsync(kind, cutoff, cancellationToken);

        public Task RemoveMarksAsync(RetentionMarkSet marks, CancellationToken cancellationToken) => inner.RemoveMarksAsync(marks, cancellationToken);

        public Task<bool> TouchAsync(string key, DateTimeOffset at, CancellationToken cancellationToken) => inner.TouchAsync(key, at, cancellationToken);

        public Task<ReapOutcome> DeleteIfUntouchedAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
            key == Failing
                ? throw new Grains.Storage.ImageStoreUnavailableException($"Deleting '{key}' failed.")
                : inner.DeleteIfUntouchedAsync(key, cutoff, cancellationToken);
    }
}
