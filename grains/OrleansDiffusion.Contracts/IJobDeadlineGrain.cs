namespace OrleansDiffusion.Contracts;

/// <summary>
/// The time limits a client set on one job (key: the job's id), as RunPod's execution policy sets them: how long the job
/// may exist unfinished, and how long it may run once started. When one passes, the job is cancelled and remembered as
/// timed out. Jobs without limits never call it.
/// </summary>
[Alias("od.IJobDeadlineGrain")]
public interface IJobDeadlineGrain : IGrainWithGuidKey
{
    /// <summary>Starts watching the job; the first limits set are kept (a repeated call changes nothing).</summary>
    [Alias("Arm")]
    Task Arm(JobDeadlines deadlines);

    /// <summary>Whether the job was stopped for a limit; a limit already past is enforced first.</summary>
    [Alias("Check")]
    Task<bool> Check();
}

/// <summary>A job's limits, measured from <see cref="SubmittedAt"/> and from its start.</summary>
[GenerateSerializer, Immutable, Alias("od.JobDeadlines")]
public sealed record JobDeadlines(
    [property: Id(0)] DateTimeOffset SubmittedAt,
    [property: Id(1)] TimeSpan? Lifetime,
    [property: Id(2)] TimeSpan? Execution);
