using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>The persisted queue: waiting items in arrival order and the leases silos hold.</summary>
[GenerateSerializer, Alias("od.QueueState")]
public sealed class QueueState
{
    [Id(0)] public List<WorkItem> Pending { get; set; } = [];

    [Id(1)] public Dictionary<Guid, LeaseRecord> Leases { get; set; } = [];

    /// <summary>The API key served last, so that the round robin resumes after it.</summary>
    [Id(2)] public string? LastServedKey { get; set; }

    [Id(3)] public long Completed { get; set; }

    [Id(4)] public long Requeued { get; set; }

    /// <summary>Items that ran out of attempts and failed.</summary>
    [Id(5)] public long Failed { get; set; }
}

[GenerateSerializer, Alias("od.LeaseRecord")]
public sealed class LeaseRecord
{
    [Id(0)] public Guid Id { get; set; }

    [Id(1)] public string Silo { get; set; } = string.Empty;

    [Id(2)] public List<WorkItem> Items { get; set; } = [];

    [Id(3)] public DateTimeOffset ExpiresAt { get; set; }
}
