using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>EulerDiscreteScheduler</c> (Karras et al. 2022, algorithm 2 without churn): one Euler step of the
/// probability-flow ODE in sigma space, <c>x' = x + (x - x0) / sigma * (sigma_next - sigma)</c>.
/// Default spacing "linspace"; optional Karras sigmas.
/// </summary>
public sealed class EulerScheduler : IScheduler
{
    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private SigmaSchedule _schedule = SigmaSchedule.Empty;
    private int _sampleLength;

    public EulerScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        KarrasSigmas = karrasSigmas;
        _training = new TrainingSchedule(config, finiteTerminalSigma: true);
    }

    public SchedulerKind Kind => SchedulerKind.Euler;

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => _schedule.Timesteps;

    /// <summary>The sigma of each step, then the final 0 (one more entry than <see cref="Timesteps"/>).</summary>
    public ReadOnlySpan<float> Sigmas => _schedule.SigmasAsFloat;

    public float InitNoiseSigma => _schedule.InitNoiseSigma;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        // The schedule depends on the step count only: a reused scheduler keeps it, so a new run allocates nothing.
        if (_schedule.Timesteps.Length != inferenceSteps)
        {
            _schedule = SigmaSchedule.Create(_training, _config, inferenceSteps, KarrasSigmas);
        }

        _sampleLength = sampleLength;
    }

    public float ModelInputScale(int stepIndex) => _schedule.ModelInputScale(stepIndex);

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        SchedulerGuard.CheckStep(_schedule.Timesteps.Length, _sampleLength, stepIndex, modelOutput.Length, sample.Length);
        var sigma = _schedule.Sigmas[stepIndex];
        var (fromSample, fromModel) = Prediction.OriginalInSigmaSpace(_config.PredictionType, sigma);
        var a = (float)fromSample;
        var b = (float)fromModel;
        var dtOverSigma = (float)((_schedule.Sigmas[stepIndex + 1] - sigma) / sigma);
        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            var original = (a * x) + (b * modelOutput[i]);
            sample[i] = x + ((x - original) * dtOverSigma);
        }
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        _schedule.AddNoise(original, noise, stepIndex, destination);
}
