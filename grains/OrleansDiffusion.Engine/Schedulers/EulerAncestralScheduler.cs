using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>EulerAncestralDiscreteScheduler</c>: an Euler step down to <c>sigma_down</c>, then fresh noise of
/// standard deviation <c>sigma_up</c>, where <c>sigma_up = sqrt(next^2 (sigma^2 - next^2) / sigma^2)</c> and
/// <c>sigma_down = sqrt(next^2 - sigma_up^2)</c>.
/// </summary>
/// <remarks>
/// <para>
/// Reads, with the class's defaults: the beta keys, <c>trained_betas</c>, <c>prediction_type</c>,
/// <c>timestep_spacing</c> ("linspace"), <c>steps_offset</c> and <c>rescale_betas_zero_snr</c>. It has no
/// <c>use_karras_sigmas</c> in diffusers, so the config's is ignored; the <c>euler_a_karras</c> name asks for Karras
/// sigmas explicitly (an extension, laid out as Euler's).
/// </para>
/// <para>
/// Every step draws <c>sampleLength</c> normals from the job's <see cref="NoiseGenerator"/>, the last one too
/// (where sigma_up is 0), as diffusers does; the stream is the same as <see cref="NoiseGenerator.FillNormal"/>.
/// The "sample" prediction type, which diffusers rejects here, is accepted: x0 is the model output.
/// </para>
/// </remarks>
public sealed class EulerAncestralScheduler : IScheduler
{
    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly SigmaScheduleOptions _options;
    private SigmaSchedule _schedule = SigmaSchedule.Empty;
    private int _scheduleSteps;
    private int _sampleLength;

    public EulerAncestralScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        KarrasSigmas = karrasSigmas;
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, config.RescaleBetasZeroSnr, finiteTerminalSigma: true);
        _options = new SigmaScheduleOptions(
            config.TimestepSpacing ?? TimestepSpacing.Linspace,
            config.StepsOffset,
            Float32Timesteps: true,
            LogLinear: false,
            karrasSigmas ? SigmaSpread.Karras : SigmaSpread.Interpolated,
            SigmaMin: null,
            SigmaMax: null,
            FinalSigmaMin: false,
            ContinuousTimesteps: false);
    }

    public SchedulerKind Kind => SchedulerKind.EulerAncestral;

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => _schedule.Timesteps;

    /// <summary>The sigma of each step, then the final 0 (one more entry than <see cref="Timesteps"/>).</summary>
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
        ArgumentNullException.ThrowIfNull(noise);
        SchedulerGuard.CheckStep(_schedule.Timesteps.Length, _sampleLength, stepIndex, modelOutput.Length, sample.Length);
        var sigma = _schedule.Sigmas[stepIndex];
        var next = _schedule.Sigmas[stepIndex + 1];
        var sigmaUp = Math.Sqrt(next * next * ((sigma * sigma) - (next * next)) / (sigma * sigma));
        var sigmaDown = Math.Sqrt(Math.Max((next * next) - (sigmaUp * sigmaUp), 0.0));

        var (fromSample, fromModel) = Prediction.OriginalInSigmaSpace(_config.PredictionType, sigma);
        var a = (float)fromSample;
        var b = (float)fromModel;
        var dtOverSigma = (float)((sigmaDown - sigma) / sigma);
        var up = (float)sigmaUp;
        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            var original = (a * x) + (b * modelOutput[i]);
            sample[i] = x + ((x - original) * dtOverSigma) + (up * (float)noise.NextNormal());
        }
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination) =>
        _schedule.AddNoise(original, noise, stepIndex, destination);
}
