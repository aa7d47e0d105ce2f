using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Api.Live;

/// <summary>The hub's client method names: one per kind of job event.</summary>
public static class LiveEventNames
{
    public const string Queued = "queued";
    public const string Started = "started";
    public const string Progress = "progress";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>The job waits in the fair queue; <paramref name="Position"/> is 0-based, null when unknown.</summary>
public sealed record QueuedEvent(Guid Id, int? Position);

public sealed record StartedEvent(Guid Id, int Steps);

/// <summary>One denoising step; <paramref name="Preview"/> is a <c>data:image/jpeg;base64,</c> URL when one was rendered.</summary>
public sealed record ProgressEvent(Guid Id, int Step, int Steps, double? Eta, string? Preview);

public sealed record CompletedEvent(Guid Id, bool Cached, IReadOnlyList<GeneratedImageDto> Images);

public sealed record FailedEvent(Guid Id, string Error);

public sealed record CancelledEvent(Guid Id);
