using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// One sampling algorithm for one job. A scheduler is stateful (multistep history) and not thread-safe:
/// create one per job with <see cref="SchedulerFactory"/>. All arithmetic is float32 and works in place
/// on the caller's buffers; after <see cref="SetTimesteps"/> a step allocates nothing.
/// </summary>
public interface IScheduler
{
    SchedulerKind Kind { get; }

    /// <summary>Whether the sigmas follow the Karras et al. (2022) schedule.</summary>
    bool KarrasSigmas { get; }

    /// <summary>
    /// Prepares a run of <paramref name="inferenceSteps"/> steps over latents of <paramref name="sampleLength"/>
    /// floats: computes the timesteps and (re)allocates the history buffers, and resets all step state.
    /// </summary>
    void SetTimesteps(int inferenceSteps, int sampleLength);

    /// <summary>
    /// The value fed to the UNet's <c>timestep</c> input at each step index, in order. Its length is the number
    /// of UNet evaluations; it can differ from the requested steps (PNDM repeats one timestep, or adds nine for its
    /// Runge-Kutta warm-up; DPM++ with a clipped <c>lambda_min_clipped</c> and "trailing" spacing may have fewer).
    /// Values may be fractional (Karras sigmas, linspace spacing, Euler's continuous timesteps); an integer UNet input
    /// rounds them.
    /// </summary>
    ReadOnlySpan<float> Timesteps { get; }

    /// <summary>The standard deviation of the initial noise: initial latents are <c>noise * InitNoiseSigma</c>.</summary>
    float InitNoiseSigma { get; }

    /// <summary>The factor the latents are multiplied by before they go into the UNet at <paramref name="stepIndex"/>.</summary>
    float ModelInputScale(int stepIndex);

    /// <summary>
    /// Advances <paramref name="sample"/> in place from step <paramref name="stepIndex"/> to the next one, given the
    /// (guided) model output at that step. Steps must be taken in increasing order, starting at the begin index.
    /// Ancestral and consistency schedulers draw fresh noise from <paramref name="noise"/>.
    /// </summary>
    void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise);

    /// <summary>
    /// Writes into <paramref name="destination"/> the clean <paramref name="original"/> latents noised to the level
    /// of step <paramref name="stepIndex"/> (img2img starts there). <paramref name="destination"/> may alias
    /// <paramref name="original"/>.
    /// </summary>
    void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination);
}
