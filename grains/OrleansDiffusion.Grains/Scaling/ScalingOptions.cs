namespace OrleansDiffusion.Grains.Scaling;

/// <summary>
/// How the cluster computes the number of inference silos it wants (configuration section <c>Diffusion:Scaling</c>).
/// The signal follows queued plus running work, in units; it holds a peak for <see cref="ScaleInDelay"/> before it drops, and
/// goes below one silo only after the cluster has been idle for <see cref="ScaleToZeroAfter"/> and
/// <see cref="MinSilos"/> is 0.
/// </summary>
public sealed class ScalingOptions
{
    /// <summary>The fewest silos ever wanted. Default: 1. 0 lets an idle cluster scale to zero.</summary>
    public int MinSilos { get; set; } = 1;

    /// <summary>The most silos ever wanted (your GPU quota). Default: 10.</summary>
    public int MaxSilos { get; set; } = 10;

    /// <summary>
    /// The units of one default request (512 x 512, 20 steps, one image: <c>QueueEntry.CostOf</c>), what one worker
    /// slot is taken to carry when <see cref="WorkPerSilo"/> is 0.
    /// </summary>
    public const int UnitsPerSlot = 20;

    /// <summary>
    /// Units of work (queued or running; a request's units are <c>images x steps x width x height / 512^2</c>) one silo
    /// is expected to carry before another silo is wanted. Default: 0, which means the silo's
    /// <see cref="Hosting.DiffusionOptions.Capacity"/> (at least 1) times <see cref="UnitsPerSlot"/>: one default
    /// request per slot. Raise it to trade queueing time for fewer cold starts.
    /// </summary>
    public int WorkPerSilo { get; set; }

    /// <summary>How long a higher demand is held before the signal drops (against flapping). Default: 1 minute.</summary>
    public TimeSpan ScaleInDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long the cluster must have had no work before the signal drops below one silo. Default: 10 minutes.</summary>
    public TimeSpan ScaleToZeroAfter { get; set; } = TimeSpan.FromMinutes(10);
}
