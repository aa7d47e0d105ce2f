namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// A diffusers class's defaults for <c>beta_start</c>, <c>beta_end</c> and <c>beta_schedule</c>, used for the keys a
/// <c>scheduler_config.json</c> leaves out.
/// </summary>
internal readonly record struct BetaDefaults(double Start, double End, BetaSchedule Schedule)
{
    /// <summary>DDIM, PNDM, LMS, Euler, Euler a and DPM-Solver: DDPM's linear 0.0001 to 0.02.</summary>
    public static BetaDefaults Ddpm { get; } = new(0.0001, 0.02, BetaSchedule.Linear);

    /// <summary>LCMScheduler: Stable Diffusion's scaled_linear 0.00085 to 0.012.</summary>
    public static BetaDefaults LatentConsistency { get; } = new(0.00085, 0.012, BetaSchedule.ScaledLinear);
}
