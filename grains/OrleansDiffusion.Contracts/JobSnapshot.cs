namespace OrleansDiffusion.Contracts;

/// <summary>Everything a client can know about a job at one moment.</summary>
[GenerateSerializer, Immutable, Alias("od.JobSnapshot")]
public sealed record JobSnapshot
{
    [Id(0)] public Guid Id { get; init; }

    [Id(1)] public JobStatus Status { get; init; }

    [Id(2)] public GenerationSpec? Spec { get; init; }

    /// <summary>0-based place in the fair queue while queued; null otherwise.</summary>
    [Id(3)] public int? QueuePosition { get; init; }

    [Id(4)] public int Step { get; init; }

    [Id(5)] public int TotalSteps { get; init; }

    /// <summary>Whether the images came from the result cache (an identical earlier request) without inference.</summary>
    [Id(6)] public bool Cached { get; init; }

    [Id(7)] public IReadOnlyList<ImageRef> Images { get; init; } = [];

    [Id(8)] public string? Error { get; init; }

    [Id(9)] public DateTimeOffset CreatedAt { get; init; }

    [Id(10)] public DateTimeOffset? StartedAt { get; init; }

    [Id(11)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The SHA-256 request key that identical requests share.</summary>
    [Id(12)] public string? RequestKey { get; init; }

    /// <summary>The silo that ran (or runs) the inference.</summary>
    [Id(13)] public string? Silo { get; init; }

    /// <summary>The name of the API key that submitted the job: the only key (besides an admin) that may see it.</summary>
    [Id(14)] public string? ApiKey { get; init; }

    public bool IsTerminal => Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;
}
