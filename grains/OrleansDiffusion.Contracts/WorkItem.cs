namespace OrleansDiffusion.Contracts;

/// <summary>
/// One inference waiting in (or leased from) a queue partition: small and of constant size, whatever the request. The
/// spec stays with the inference's owner (the <see cref="IResultCacheGrain"/> keyed by <see cref="Key"/>); a worker asks
/// the owner for it when it starts the work. A partition holds at most one entry per request key.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.QueueEntry")]
public sealed record QueueEntry(
    [property: Id(0)] string Key,
    [property: Id(1)] string ApiKey,
    [property: Id(2)] string Model,
    [property: Id(3)] string? BatchKey,
    [property: Id(4)] int Cost,
    [property: Id(5)] DateTimeOffset EnqueuedAt)
{
    /// <summary>
    /// Requests with the same batch key can share one batched UNet call: same model, size, steps, scheduler, guidance
    /// mode and hires fix; txt2img only (null otherwise).
    /// </summary>
    public static string? BatchKeyOf(GenerationSpec spec) => spec.InitImageKey is null
        ? $"{spec.Model}|{spec.Width}x{spec.Height}|{spec.Steps}|{spec.Scheduler}|{(spec.GuidanceScale > 1f ? "cfg" : "nocfg")}{HiresKeyOf(spec.Hires)}"
        : null;

    private static string HiresKeyOf(HiresSpec? hires) => hires is null
        ? string.Empty
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"|hires:{hires.Width}x{hires.Height}:{hires.Scale:R}:{hires.ResizeWidth}x{hires.ResizeHeight}:{hires.Steps}:{hires.DenoisingStrength:R}:{hires.Upscaler}");

    /// <summary>The side of the unit image: one step on one 512 x 512 image is one unit of work.</summary>
    public const int UnitSide = 512;

    /// <summary>
    /// What a request costs in units: <c>n x steps x (width x height) / 512^2</c>, plus a hires fix's second pass
    /// <c>n x hires steps x (hires width x hires height) / 512^2</c>, rounded up, at least 1. The UNet's
    /// work grows with each factor, so this is what the per-key quota and the scaling signal count: an 8-image,
    /// 150-step 1024 x 1024 request (4800 units) weighs as much as 240 default requests (512 x 512, 20 steps: 20 units).
    /// </summary>
    public static int CostOf(GenerationSpec spec)
    {
        var images = (long)Math.Max(1, spec.ImageCount);
        var work = images * Math.Max(1, spec.Steps) * Math.Max(1, spec.Width) * Math.Max(1, spec.Height);
        if (spec.Hires is { } hires)
        {
            // The second pass runs its own steps at the hires size (resolved by the cluster before any charge).
            work += images * Math.Max(1, hires.StepsAfter(spec.Steps)) * Math.Max(1, hires.Width) * Math.Max(1, hires.Height);
        }

        const long unit = (long)UnitSide * UnitSide;
        return (int)Math.Clamp((work + unit - 1) / unit, 1, int.MaxValue);
    }
}

/// <summary>Work handed to one silo from one partition: one entry, or several compatible entries to run as one batch.</summary>
[GenerateSerializer, Immutable, Alias("od.WorkLease")]
public sealed record WorkLease(
    [property: Id(0)] Guid LeaseId,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Partition,
    [property: Id(3)] IReadOnlyList<QueueEntry> Items,
    [property: Id(4)] DateTimeOffset ExpiresAt);

/// <summary>
/// One partition's live counts (soft state: counters restart with the activation): entries, and their cost in units
/// (<see cref="QueueEntry.Cost"/>), waiting and leased. <see cref="IdleBySilo"/> counts the idle pumps subscribed for
/// wake-ups per silo, <see cref="WakeUpsBySilo"/> the wake-ups sent to each silo (a silo's count is forgotten ten
/// minutes after its last wake-up).
/// </summary>
[GenerateSerializer, Immutable, Alias("od.PartitionCounts")]
public sealed record PartitionCounts(
    [property: Id(0)] string Partition,
    [property: Id(1)] int Pending,
    [property: Id(2)] IReadOnlyDictionary<string, int> RunningBySilo,
    [property: Id(3)] DateTimeOffset? OldestPending,
    [property: Id(4)] long Completed,
    [property: Id(5)] long Requeued,
    [property: Id(6)] long GaveUp,
    [property: Id(7)] long PendingUnits,
    [property: Id(8)] long RunningUnits)
{
    [Id(9)]
    public IReadOnlyDictionary<string, int> IdleBySilo { get; init; } = new Dictionary<string, int>();

    [Id(10)]
    public IReadOnlyDictionary<string, long> WakeUpsBySilo { get; init; } = new Dictionary<string, long>();
}

/// <summary>The whole queue: the sum over its partitions. Units are <see cref="QueueEntry.Cost"/>s.</summary>
[GenerateSerializer, Immutable, Alias("od.QueueStats")]
public sealed record QueueStats(
    [property: Id(0)] int Pending,
    [property: Id(1)] int Running,
    [property: Id(2)] IReadOnlyDictionary<string, int> RunningBySilo,
    [property: Id(3)] double OldestPendingSeconds,
    [property: Id(4)] long Completed,
    [property: Id(5)] long Requeued,
    [property: Id(6)] long GaveUp,
    [property: Id(7)] int Partitions,
    [property: Id(8)] long PendingUnits,
    [property: Id(9)] long RunningUnits);
