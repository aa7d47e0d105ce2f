using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>A job's persisted lifecycle. Per-step progress is not persisted: it is live state, sent to observers.</summary>
[GenerateSerializer, Alias("od.JobState")]
public sealed class JobState
{
    [Id(0)] public JobStatus Status { get; set; }

    [Id(1)] public GenerationSpec? Spec { get; set; }

    [Id(2)] public string ApiKey { get; set; } = string.Empty;

    [Id(3)] public string? RequestKey { get; set; }

    [Id(4)] public DateTimeOffset CreatedAt { get; set; }

    [Id(5)] public DateTimeOffset? StartedAt { get; set; }

    [Id(6)] public DateTimeOffset? CompletedAt { get; set; }

    [Id(7)] public List<ImageRef> Images { get; set; } = [];

    [Id(8)] public string? Error { get; set; }

    [Id(9)] public bool Cached { get; set; }

    [Id(10)] public string? Silo { get; set; }
}
