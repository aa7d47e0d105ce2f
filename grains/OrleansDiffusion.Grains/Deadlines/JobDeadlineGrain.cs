using Microsoft.Extensions.Logging;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Deadlines;

/// <summary>
/// Enforces one job's time limits. A grain timer (kept alive while the job is unfinished) looks at the job when its next
/// limit is due, and at least every <see cref="LongestWait"/> while it waits to start, since the execution limit counts
/// from a start it is not told of. Whoever reads the job's state calls <see cref="Check"/> too, so limits still hold after
/// the silo that watched them is gone. Saved twice at most: the limits, then the verdict; a job that ends in time clears
/// its record.
/// </summary>
public sealed partial class JobDeadlineGrain(
    [PersistentState("deadline", StorageNames.Jobs)] IPersistentState<JobDeadlineState> state,
    TimeProvider time,
    ILogger<JobDeadlineGrain> logger) : Grain, IJobDeadlineGrain
{
    /// <summary>The longest a job with an execution limit goes unwatched before it starts.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(5);

    /// <summary>The shortest wait between two looks, so a limit just past is not polled in a tight loop.</summary>
    private static readonly TimeSpan ShortestWait = TimeSpan.FromMilliseconds(100);

    private IGrainTimer? _timer;

    private IGenerationJobGrain Job => GrainFactory.GetGrain<IGenerationJobGrain>(this.GetPrimaryKey());

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Deadlines is not null && !state.State.TimedOut)
        {
            Watch(ShortestWait);
        }

        return Task.CompletedTask;
    }

    public async Task Arm(JobDeadlines deadlines)
    {
        if (state.State.Deadlines is not null)
        {
            return;
        }

        state.State.Deadlines = deadlines;
        await state.WriteStateAsync();
        Watch(NextLook(deadlines, startedAt: null));
    }

    public async Task<bool> Check()
    {
        if (state.State.Deadlines is not null)
        {
            await EnforceAsync(CancellationToken.None);
        }

        return state.State.TimedOut;
    }

    private async Task EnforceAsync(CancellationToken cancellationToken)
    {
        var deadlines = state.State.Deadlines!;
        var job = await Job.GetSnapshot();
        if (job.IsTerminal || job.Status == JobStatus.None)
        {
            StopWatching();
            if (!state.State.TimedOut && state.RecordExists)
            {
                await state.ClearStateAsync();
            }

            return;
        }

        if (!state.State.TimedOut)
        {
            var now = time.GetUtcNow();
            var overdue = (deadlines.Lifetime is { } lifetime && now >= deadlines.SubmittedAt + lifetime)
                || (deadlines.Execution is { } execution && job.StartedAt is { } started && now >= started + execution);
            if (!overdue)
            {
                Watch(NextLook(deadlines, job.StartedAt));
                return;
            }

            // The verdict is saved before the job is cancelled, so nobody reads a cancellation that is not yet known
            // to be a time-out. Should cancelling fail, the next look (or read) cancels again.
            state.State.TimedOut = true;
            await state.WriteStateAsync();
        }

        await Job.Cancel();
        StopWatching();
    }

    /// <summary>A look the timer takes; one that fails (the job's grain unreachable, storage away) is taken again later.</summary>
    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await EnforceAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            Log.LookFailed(logger, e, this.GetPrimaryKey());
            Watch(LongestWait);
        }
    }

    /// <summary>How long until the next limit, or until the next look for a start.</summary>
    private TimeSpan NextLook(JobDeadlines deadlines, DateTimeOffset? startedAt)
    {
        var now = time.GetUtcNow();
        var next = LongestWait;
        if (deadlines.Lifetime is { } lifetime)
        {
            next = Min(next, deadlines.SubmittedAt + lifetime - now);
        }

        if (deadlines.Execution is { } execution && startedAt is { } started)
        {
            next = Min(next, started + execution - now);
        }

        return next < ShortestWait ? ShortestWait : next;
    }

    private void Watch(TimeSpan due)
    {
        if (_timer is null)
        {
            _timer = this.RegisterGrainTimer(OnTimerAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private void StopWatching()
    {
        _timer?.Dispose();
        _timer = null;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The time limits of job {Job} could not be checked; they are checked again shortly")]
        public static partial void LookFailed(ILogger logger, Exception exception, Guid job);
    }
}

[GenerateSerializer, Alias("od.JobDeadlineState")]
public sealed class JobDeadlineState
{
    [Id(0)] public JobDeadlines? Deadlines { get; set; }

    [Id(1)] public bool TimedOut { get; set; }
}
