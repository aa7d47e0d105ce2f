using Orleans.Concurrency;

namespace OrleansDiffusion.Contracts;

/// <summary>
/// One change of an inference, numbered by its owner (the result cache grain): every consumer (job grains, the SignalR
/// relay, AUTOMATIC1111 progress, the synchronous endpoints) applies only events newer than the last it applied, so
/// one-way messages that overtake each other are put in order in one place, <see cref="EventOrder"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.InferenceEvent")]
public sealed record InferenceEvent
{
    /// <summary>The request key of the inference.</summary>
    [Id(0)] public string Key { get; init; } = string.Empty;

    /// <summary>Increases with every event of the inference, across activations of its owner (it starts from the clock).</summary>
    [Id(1)] public long Seq { get; init; }

    [Id(2)] public InferenceEventKind Kind { get; init; }

    [Id(3)] public int Step { get; init; }

    [Id(4)] public int TotalSteps { get; init; }

    [Id(5)] public double? EtaSeconds { get; init; }

    /// <summary>A JPEG latent preview of image 0 (progress events, every few steps).</summary>
    [Id(6)] public byte[]? Preview { get; init; }

    /// <summary>0-based place in its queue partition while queued.</summary>
    [Id(7)] public int? QueuePosition { get; init; }

    [Id(8)] public IReadOnlyList<ImageRef> Images { get; init; } = [];

    [Id(9)] public string? Error { get; init; }

    [Id(10)] public string? Silo { get; init; }

    [Id(11)] public DateTimeOffset? StartedAt { get; init; }

    [Id(12)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>For <see cref="InferenceEventKind.Left"/>: the job that stopped waiting (it was cancelled).</summary>
    [Id(13)] public Guid? Job { get; init; }

    public bool IsOutcome => Kind is InferenceEventKind.Completed or InferenceEventKind.Failed;
}

[GenerateSerializer, Alias("od.InferenceEventKind")]
public enum InferenceEventKind
{
    /// <summary>Waiting in the queue (also what a new watcher of a queued inference receives first).</summary>
    Queued,
    Started,
    Progress,
    Completed,
    Failed,

    /// <summary>One job stopped waiting (cancelled); the inference goes on for the others.</summary>
    Left,
}

/// <summary>A consumer of one inference's events (one-way: they may arrive out of order; see <see cref="EventOrder"/>).</summary>
[Alias("od.IInferenceObserver")]
public interface IInferenceObserver : IGrainObserver
{
    [OneWay, Alias("OnInferenceEvent")]
    Task OnInferenceEvent(InferenceEvent inferenceEvent);
}

/// <summary>
/// The ordering rule every consumer applies: an event is new when its sequence number is above the last applied one.
/// Thread-safe; one per consumer of one inference.
/// </summary>
public sealed class EventOrder
{
    private long _last = long.MinValue;

    public long Last => Interlocked.Read(ref _last);

    /// <summary>True (and remembered) when <paramref name="inferenceEvent"/> is newer than everything applied so far.</summary>
    public bool TryAdvance(InferenceEvent inferenceEvent)
    {
        while (true)
        {
            var last = Interlocked.Read(ref _last);
            if (inferenceEvent.Seq <= last)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _last, inferenceEvent.Seq, last) == last)
            {
                return true;
            }
        }
    }
}
