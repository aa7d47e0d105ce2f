using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>EulerDiscreteScheduler</c> (Karras et al. 2022, algorithm 2 without churn): one Euler step of the
/// probability-flow ODE in sigma space, <c>x' = x + (x - x0) / sigma * (sigma_next - sigma)</c>.
/// </summary>
/// <remarks>
/// Reads, with the class's defaults: the beta keys, <c>trained_betas</c>, <c>prediction_type</c>,
/// <c>interpolation_type</c> ("linear"), <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c>,
/// <c>use_beta_sigmas</c> (refused), <c>sigma_min</c>, <c>sigma_max</c>, <c>timestep_spacing</c> ("linspace"),
/// <c>timestep_type</c> ("discrete"), <c>steps_offset</c>, <c>rescale_betas_zero_snr</c> and
/// <c>final_sigmas_type</c> ("zero"). Every other key is ignored, as diffusers' <c>from_config</c> ignores it.
/// </remarks>
public sealed class EulerScheduler : IScheduler
{
    private const string ClassName = "EulerDiscreteScheduler";

    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly SigmaScheduleOptions _options;
    private SigmaSchedule _schedule = SigmaSchedule.Empty;
    private int _scheduleSteps;
    private int _sampleLength;

    public EulerScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        KarrasSigmas = karrasSigmas || config.UseKarrasSigmas;
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, config.RescaleBetasZeroSnr, finiteTerminalSigma: true);
        var interpolation = SchedulerGuard.Choice(config.InterpolationType, "interpolation_type", ClassName, "linear", ["linear", "log_linear"]);
        var timestepType = SchedulerGuard.Choice(config.TimestepType, "timestep_type", ClassName, "discrete", ["discrete", "continuous"]);
        var finalSigmas = SchedulerGuard.Choice(config.FinalSigmasType, "final_sigmas_type", ClassName, "zero", ["zero", "sigma_min"]);
        _options = new SigmaScheduleOptions(
            config.TimestepSpacing ?? TimestepSpacing.Linspace,
            config.StepsOffset,
            Float32Timesteps: true,
            LogLinear: interpolation == "log_linear",
            SchedulerGuard.Spread(config, KarrasSigmas, ClassName, readsLuLambdas: false),
            config.SigmaMin,
            config.SigmaMax,
            FinalSigmaMin: finalSigmas == "sigma_min",
            ContinuousTimesteps: timestepType == "continuous" && config.PredictionType == PredictionType.VPrediction);
    }

    public SchedulerKind Kind => SchedulerKind.Euler;

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => _schedule.Timesteps;

    /// <summary>The sigma of each step, then the sigma the last step ends on (at least one more entry than <see cref="Timesteps"/>).</summary>
    public ReadOnlySpan<float> Sigmas => _schedule.SigmasAsFloat;

    public float InitNoiseSigma => _schedule.InitNoiseSigma;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        // The schedule depends on the step count only: a reused scheduler keeps it, so a new run allocates nothing.
        if (_scheduleSteps != inferenceSteps)
        {
            _schedule = SigmaSchedule.Create(_training, _options, inferenceSteps);
            _scheduleSteps = inferenceSteps;
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
