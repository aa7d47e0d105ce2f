using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>DDIMScheduler</c> with eta = 0 (deterministic): from the predicted clean sample x0 and noise eps,
/// <c>x_prev = sqrt(acp_prev) * x0 + sqrt(1 - acp_prev) * eps</c>.
/// </summary>
/// <remarks>
/// <para>
/// Reads, with the class's defaults: the beta keys, <c>trained_betas</c>, <c>clip_sample</c> (true),
/// <c>set_alpha_to_one</c> (true), <c>steps_offset</c>, <c>prediction_type</c>, <c>thresholding</c>,
/// <c>dynamic_thresholding_ratio</c>, <c>clip_sample_range</c>, <c>sample_max_value</c>, <c>timestep_spacing</c>
/// ("leading") and <c>rescale_betas_zero_snr</c>. Configs that leave <c>clip_sample</c> out therefore clip, as in
/// diffusers (Stable Diffusion's configs set it to false).
/// </para>
/// <para>
/// As in diffusers, the previous timestep is always <c>t - train / steps</c> (integer division), whatever the spacing,
/// and below 0 it has <c>acp = 1</c> when <c>set_alpha_to_one</c>, else <c>acp[0]</c>. Thresholding, or else
/// clipping, applies to x0 while eps keeps its unclipped value.
/// </para>
/// </remarks>
public sealed class DdimScheduler : IScheduler
{
    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly double _finalAlphaCumprod;
    private readonly bool _clip;
    private readonly DynamicThreshold? _threshold;
    private float[] _timesteps = [];
    private float[] _original = [];
    private int _scheduleSteps;
    private int _stepRatio;
    private int _sampleLength;

    public DdimScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerGuard.RejectKarras(karrasSigmas, SchedulerKind.Ddim);
        config.Validate();
        _config = config;
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, config.RescaleBetasZeroSnr, finiteTerminalSigma: false);
        _finalAlphaCumprod = (config.SetAlphaToOne ?? true) ? 1.0 : _training.AlphasCumprod[0];
        _clip = config.ClipSample ?? true;
        _threshold = config.Thresholding ? new DynamicThreshold(config.DynamicThresholdingRatio, config.SampleMaxValue) : null;
    }

    public SchedulerKind Kind => SchedulerKind.Ddim;

    public bool KarrasSigmas => false;

    public ReadOnlySpan<float> Timesteps => _timesteps;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        if (_scheduleSteps != inferenceSteps)
        {
            // The schedule depends on the step count only: a reused scheduler keeps it.
            var spacing = _config.TimestepSpacing ?? TimestepSpacing.Leading;
            var spaced = TimestepGrid.Descending(spacing, inferenceSteps, _training.Length, _config.StepsOffset);
            _timesteps = new float[inferenceSteps];
            for (var i = 0; i < inferenceSteps; i++)
            {
                _timesteps[i] = (float)Math.Min(Math.Round(spaced[i]), _training.Length - 1);
            }

            _scheduleSteps = inferenceSteps;
        }

        _stepRatio = _training.Length / inferenceSteps;
        if (_threshold is not null && _original.Length != sampleLength)
        {
            _original = new float[sampleLength];
            _threshold.Prepare(sampleLength);
        }

        _sampleLength = sampleLength;
    }

    public float ModelInputScale(int stepIndex)
    {
        SchedulerGuard.CheckIndex(stepIndex, _timesteps.Length);
        return 1f;
    }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        SchedulerGuard.CheckStep(_timesteps.Length, _sampleLength, stepIndex, modelOutput.Length, sample.Length);
        var timestep = (int)_timesteps[stepIndex];
        var previous = timestep - _stepRatio;
        var acp = _training.AlphasCumprod[timestep];
        var acpPrevious = previous >= 0 ? _training.AlphasCumprod[previous] : _finalAlphaCumprod;
        var alpha = Math.Sqrt(acp);
        var sigma = Math.Sqrt(1 - acp);

        var (x0Sample, x0Model) = Prediction.OriginalInVpSpace(_config.PredictionType, alpha, sigma);
        var (epsSample, epsModel) = Prediction.EpsilonInVpSpace(_config.PredictionType, alpha, sigma);
        var a = (float)x0Sample;
        var b = (float)x0Model;
        var c = (float)epsSample;
        var d = (float)epsModel;
        var signal = (float)Math.Sqrt(acpPrevious);
        var direction = (float)Math.Sqrt(1 - acpPrevious);
        if (_threshold is not null)
        {
            // The threshold depends on all of x0, so x0 is computed first.
            var original = _original.AsSpan(0, sample.Length);
            for (var i = 0; i < sample.Length; i++)
            {
                original[i] = (a * sample[i]) + (b * modelOutput[i]);
            }

            _threshold.Apply(original);
            for (var i = 0; i < sample.Length; i++)
            {
                var epsilon = (c * sample[i]) + (d * modelOutput[i]);
                sample[i] = (signal * original[i]) + (direction * epsilon);
            }

            return;
        }

        var clip = _clip;
        var range = (float)_config.ClipSampleRange;
        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            var m = modelOutput[i];
            var original = (a * x) + (b * m);
            var epsilon = (c * x) + (d * m);
            if (clip)
            {
                original = Math.Clamp(original, -range, range);
            }

            sample[i] = (signal * original) + (direction * epsilon);
        }
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(_timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        VpNoise.Add(_training.AlphasCumprod[(int)_timesteps[stepIndex]], original, noise, destination);
    }
}
