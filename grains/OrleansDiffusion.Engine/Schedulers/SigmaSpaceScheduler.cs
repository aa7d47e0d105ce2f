using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// What the schedulers that step in sigma space (Euler, Euler a, LMS) share: the training schedule of their config,
/// the <see cref="SigmaSchedule"/> of a step count (kept while the count does not change, so a reused scheduler
/// allocates nothing), and what that schedule answers. A scheduler adds its own <see cref="Step"/>.
/// </summary>
public abstract class SigmaSpaceScheduler : IScheduler
{
    private readonly TrainingSchedule _training;
    private readonly SigmaScheduleOptions _options;
    private int _scheduleSteps;

    /// <param name="config">The scheduler config (validated here).</param>
    /// <param name="karrasSigmas">Whether the sigmas are spread as Karras et al. do.</param>
    /// <param name="rescaleZeroSnr">Whether the betas are rescaled to a zero terminal SNR.</param>
    /// <param name="options">The sigma schedule's options, from the validated config and <paramref name="karrasSigmas"/>.</param>
    private protected SigmaSpaceScheduler(SchedulerConfig config, bool karrasSigmas, bool rescaleZeroSnr, Func<SchedulerConfig, bool, SigmaScheduleOptions> options)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        KarrasSigmas = karrasSigmas;
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, rescaleZeroSnr, finiteTerminalSigma: true);
        _options = options(config, karrasSigmas);
    }

    public abstract SchedulerKind Kind { get; }

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => Schedule.Timesteps;

    /// <summary>The sigma of each step, then the sigma the last step ends on (one more entry than <see cref="Timesteps"/>).</summary>
    public ReadOnlySpan<float> Sigmas => Schedule.SigmasAsFloat;

    public float InitNoiseSigma => Schedule.InitNoiseSigma;

    private protected SchedulerConfig Config { get; }

    /// <summary>The schedule of the last <see cref="SetTimesteps"/>.</summary>
    private protected SigmaSchedule Schedule { get; private set; } = SigmaSchedule.Empty;

    /// <summary>The sample length of the last <see cref="SetTimesteps"/>.</summary>
    private protected int SampleLength { get; private set; }

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        if (_scheduleSteps != inferenceSteps)
        {
            Schedule = SigmaSchedule.Create(_training, _options, inferenceSteps);
            _scheduleSteps = inferenceSteps;
        }

        var resized = SampleLength != sampleLength;
        SampleLength = sampleLength;
        Restart(resized);
    }

    public float ModelInputScale(int stepIndex) => Schedule.ModelInputScale(stepIndex);

    public abstract void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise);

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        Schedule.AddNoise(original, noise, stepIndex, destination);

    /// <summary>A new run begins (after <see cref="SetTimesteps"/>); <paramref name="resized"/> when its sample length differs from the last run's.</summary>
    private protected virtual void Restart(bool resized)
    {
    }

    /// <summary>Checks a step's index and buffer lengths against the schedule and the sample length.</summary>
    private protected void CheckStep(int stepIndex, int modelOutputLength, int sampleLength) =>
        SchedulerGuard.CheckStep(Schedule.Timesteps.Length, SampleLength, stepIndex, modelOutputLength, sampleLength);
}
