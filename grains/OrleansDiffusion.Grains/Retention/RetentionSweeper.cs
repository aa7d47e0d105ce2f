using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// One retention sweep: for each kind with a period, it reads the marks dated at least a period before now (oldest
/// first, and only those: the cost follows what is due, not what is stored) and asks each item's owner whether it is
/// still in use. Job records go first, then results (a result's owner ends its entry, then its images are deleted
/// unless touched since the cutoff, then the entry is forgotten), then inputs (init images, masks): every inference that uses one is
/// asked first and, while it is queued or running, touches it again, and only then are the due inputs deleted, each
/// only if untouched since the cutoff. A mark is removed after its item was handled (a group of marks once all of its
/// marks were, after those that stay were written back), so a sweep cut short, or two sweeps at once, redo or repeat
/// work and harm nothing. The reaper grain runs it on a timer; tests run it with their own now.
/// </summary>
public sealed partial class RetentionSweeper(
    IGrainFactory grains,
    IRetentionStore store,
    IOptions<DiffusionOptions> options,
    DiffusionMetrics metrics,
    ILogger<RetentionSweeper> logger)
{
    // Marks handled at once: storage round trips overlap, a grain call per mark at most.
    private const int Parallelism = 16;

    private readonly RetentionOptions _options = options.Value.Retention;
    private long _sweeps;

    /// <summary>Sweeps run by this silo (all of them, however started).</summary>
    public long Sweeps => Interlocked.Read(ref _sweeps);

    public async Task<RetentionSweepReport> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sweeps);
        var tally = new Tally();
        if (_options.PeriodOf(RetentionKind.Jobs) is { } jobs)
        {
            await ForEachDueAsync(RetentionKind.Jobs, now - jobs, mark => ExpireJobAsync(mark, now - jobs, now, tally), tally, cancellationToken);
        }

        if (_options.PeriodOf(RetentionKind.Results) is { } results)
        {
            await ForEachDueAsync(RetentionKind.Results, now - results, mark => ExpireResultAsync(mark, now - results, tally, cancellationToken), tally, cancellationToken);
        }

        if (_options.PeriodOf(RetentionKind.Inputs) is { } inputs)
        {
            // Every use first: an input that a waiting inference reads is touched before any input is deleted.
            await ForEachDueAsync(RetentionKind.InputUses, now - inputs, mark => RenewUseAsync(mark, now, tally, cancellationToken), tally, cancellationToken);
            await ForEachDueAsync(RetentionKind.Inputs, now - inputs, mark => DeleteInputAsync(mark, now - inputs, tally, cancellationToken), tally, cancellationToken);
        }

        var report = tally.Report(now);
        metrics.RetentionSwept(report);
        if (report.JobsDeleted + report.ResultsExpired + report.ImagesDeleted + report.InputsDeleted + report.Failed > 0)
        {
            Log.Swept(logger, report.JobsDeleted, report.ResultsExpired, report.ImagesDeleted, report.InputsDeleted, report.Kept, report.Failed);
        }

        return report;
    }

    private async Task<bool> ExpireJobAsync(RetentionMark mark, DateTimeOffset cutoff, DateTimeOffset now, Tally tally)
    {
        if (!Guid.TryParseExact(mark.Id, "N", out var id))
        {
            return false; // no job's mark
        }

        var expiry = await grains.GetGrain<IGenerationJobGrain>(id).Expire(cutoff, now);
        return await HandleAsync(mark, expiry.Outcome, expiry.RetainFrom, tally, () => Interlocked.Increment(ref tally.JobsDeleted));
    }

    private async Task<bool> ExpireResultAsync(RetentionMark mark, DateTimeOffset cutoff, Tally tally, CancellationToken cancellationToken)
    {
        var owner = grains.GetGrain<IResultCacheGrain>(mark.Id);
        var expiry = await owner.Expire(cutoff);
        if (expiry.Outcome == ExpiryOutcome.Expired)
        {
            // The entry answers nothing any more; an image another live entry shares was touched when that one was
            // stored or used after the cutoff, and stays.
            foreach (var image in expiry.Images.Select(i => i.Key).Distinct(StringComparer.Ordinal))
            {
                if (await store.DeleteIfUntouchedAsync(image, cutoff, cancellationToken) == ReapOutcome.Deleted)
                {
                    Interlocked.Increment(ref tally.ImagesDeleted);
                }
            }

            // Counted by the sweep that removes the entry: two sweeps at once may both be handed the images.
            if (await owner.Forget())
            {
                Interlocked.Increment(ref tally.ResultsExpired);
            }
        }

        return await HandleAsync(mark, expiry.Outcome, expiry.RetainFrom, tally, () => { });
    }

    private async Task<bool> RenewUseAsync(RetentionMark mark, DateTimeOffset now, Tally tally, CancellationToken cancellationToken)
    {
        if (InputUse.TryParse(mark.Id, out var input, out var requestKey)
            && await grains.GetGrain<IResultCacheGrain>(requestKey).UsesInput(input)
            && await store.TouchAsync(input, now, cancellationToken))
        {
            // Still waited for: used now, and asked again a period from now.
            await store.MarkAsync(new RetentionMark(RetentionKind.Inputs, InputUse.InputIdOf(input), now), cancellationToken);
            await store.MarkAsync(mark.Renewed(now), cancellationToken);
            Interlocked.Increment(ref tally.Kept);
        }

        return false;
    }

    private async Task<bool> DeleteInputAsync(RetentionMark mark, DateTimeOffset cutoff, Tally tally, CancellationToken cancellationToken)
    {
        switch (await store.DeleteIfUntouchedAsync(InputUse.InputKeyOf(mark.Id), cutoff, cancellationToken))
        {
            case ReapOutcome.Deleted:
                Interlocked.Increment(ref tally.InputsDeleted);
                break;
            case ReapOutcome.Kept:
                // Used since: a later mark, written with that use, brings it back.
                break;
        }

        return false;
    }

    /// <summary>
    /// Counts the outcome and marks a kept item again for when its period from then has passed; true when the mark
    /// itself is to stay (kept, and due again from the same time).
    /// </summary>
    private async Task<bool> HandleAsync(RetentionMark mark, ExpiryOutcome outcome, DateTimeOffset? retainFrom, Tally tally, Action expired)
    {
        switch (outcome)
        {
            case ExpiryOutcome.Expired:
                expired();
                break;
            case ExpiryOutcome.Kept:
                Interlocked.Increment(ref tally.Kept);
                if (retainFrom is { } from && from != mark.At)
                {
                    await store.MarkAsync(mark.Renewed(from), CancellationToken.None);
                }

                break;
        }

        return outcome == ExpiryOutcome.Kept && retainFrom == mark.At;
    }

    /// <summary>
    /// Handles the due marks of a kind, a few sets at a time and a few marks at once; then each set goes, after the
    /// marks of a group that are to stay (kept, or whose handling failed) were written back as a new group. A mark
    /// whose handling fails stays for the next sweep.
    /// </summary>
    private async Task ForEachDueAsync(RetentionKind kind, DateTimeOffset cutoff, Func<RetentionMark, Task<bool>> handle, Tally tally, CancellationToken cancellationToken)
    {
        var batch = new List<RetentionMarkSet>();
        var marks = 0;
        await foreach (var set in store.ListMarksAsync(kind, cutoff, cancellationToken))
        {
            batch.Add(set);
            marks += set.Marks.Count;
            if (marks >= Parallelism)
            {
                await HandleBatchAsync(batch, handle, tally, cancellationToken);
                batch.Clear();
                marks = 0;
            }
        }

        await HandleBatchAsync(batch, handle, tally, cancellationToken);
    }

    private async Task HandleBatchAsync(List<RetentionMarkSet> batch, Func<RetentionMark, Task<bool>> handle, Tally tally, CancellationToken cancellationToken)
    {
        var staying = new ConcurrentDictionary<RetentionMark, bool>();
        await Parallel.ForEachAsync(
            batch.SelectMany(set => set.Marks),
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (mark, _) =>
            {
                try
                {
                    if (await handle(mark))
                    {
                        staying[mark] = true;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Interlocked.Increment(ref tally.Failed);
                    Log.MarkFailed(logger, e, mark.Name);
                    staying[mark] = true;
                }
            });

        await Parallel.ForEachAsync(
            batch,
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (set, _) =>
            {
                var stay = set.Marks.Where(staying.ContainsKey).ToList();
                if (!set.IsGroup && stay.Count > 0)
                {
                    return; // a single mark that stays is left where it is
                }

                try
                {
                    if (stay.Count > 0)
                    {
                        await store.MarkAsync(RetentionMarkSet.Of(stay), CancellationToken.None);
                    }

                    await store.RemoveMarksAsync(set, CancellationToken.None);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The set stays whole; its marks are handled again (harmlessly) by the next sweep.
                    Interlocked.Increment(ref tally.Failed);
                    Log.MarkFailed(logger, e, set.Name);
                }
            });
    }

    private sealed class Tally
    {
        public int JobsDeleted;
        public int ResultsExpired;
        public int ImagesDeleted;
        public int InputsDeleted;
        public int Kept;
        public int Failed;

        public RetentionSweepReport Report(DateTimeOffset at) => new()
        {
            At = at,
            JobsDeleted = JobsDeleted,
            ResultsExpired = ResultsExpired,
            ImagesDeleted = ImagesDeleted,
            InputsDeleted = InputsDeleted,
            Kept = Kept,
            Failed = Failed,
        };
    }
}
