using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// A job's persisted record: what was accepted (written before the job joins its inference) and, only when its
/// inference's owner cannot tell it later, the final outcome (failed, cancelled). Success and progress are read from the
/// owner, which keeps the result.
/// </summary>
[GenerateSerializer, Alias("od.JobState")]
public sealed class JobState
{
    /// <summary><see cref="JobStatus.Queued"/> once accepted; then <see cref="JobStatus.Failed"/> or <see cref="JobStatus.Cancelled"/> when recorded.</summary>
    [Id(0)] public JobStatus Status { get; set; }

    [Id(1)] public GenerationSpec? Spec { get; set; }

    [Id(2)] public string ApiKey { get; set; } = string.Empty;

    [Id(3)] public string? RequestKey { get; set; }

    [Id(4)] public DateTimeOffset CreatedAt { get; set; }

    [Id(5)] public DateTimeOffset? CompletedAt { get; set; }

    [Id(6)] public string? Error { get; set; }

    /// <summary>The key's concurrency quota in units when the job was accepted, applied again if it must join later.</summary>
    [Id(7)] public int MaxUnits { get; set; }
}
