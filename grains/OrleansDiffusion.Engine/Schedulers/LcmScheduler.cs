using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>LCMScheduler</c> for latent consistency models (Luo et al. 2023): each step predicts the clean
/// sample with the consistency boundary condition <c>denoised = c_out x0 + c_skip x</c>, then (except at the last
/// step) noises it afresh to the next timestep: <c>x' = sqrt(acp') denoised + sqrt(1 - acp') z</c>.
/// </summary>
/// <remarks>
/// <para>
/// Reads, with the class's defaults: <c>beta_start</c> (0.00085), <c>beta_end</c> (0.012), <c>beta_schedule</c>
/// ("scaled_linear"), <c>trained_betas</c>, <c>original_inference_steps</c> (50), <c>clip_sample</c> (false),
/// <c>clip_sample_range</c>, <c>set_alpha_to_one</c> (true), <c>prediction_type</c>, <c>thresholding</c>,
/// <c>dynamic_thresholding_ratio</c>, <c>sample_max_value</c>, <c>timestep_scaling</c> (10) and
/// <c>rescale_betas_zero_snr</c>; <c>timestep_spacing</c> and <c>steps_offset</c> are read by diffusers but not used.
/// </para>
/// <para>
/// Timesteps are taken from the distillation schedule <c>k - 1, 2k - 1, ..., train - 1</c> with
/// <c>k = train / original_inference_steps</c>, reversed, at indices <c>floor(j * original / steps)</c>, as current
/// diffusers does. With <c>sigma_data = 0.5</c> and <c>s = t * timestep_scaling</c>:
/// <c>c_skip = sigma_data^2 / (s^2 + sigma_data^2)</c>, <c>c_out = s / sqrt(s^2 + sigma_data^2)</c>. Each non-final
/// step draws <c>sampleLength</c> normals from the job's <see cref="NoiseGenerator"/>. img2img begins at a later
/// index instead of diffusers' <c>strength</c> argument.
/// </para>
/// </remarks>
public sealed class LcmScheduler : IScheduler
{
    private const double SigmaData = 0.5;

    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly double _finalAlphaCumprod;
    private readonly bool _clip;
    private readonly DynamicThreshold? _threshold;
    private float[] _timesteps = [];
    private float[] _original = [];
    private int _sampleLength;

    public LcmScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerGuard.RejectKarras(karrasSigmas, SchedulerKind.Lcm);
        config.Validate();
        _config = config;
        _training = new TrainingSchedule(config, BetaDefaults.LatentConsistency, config.RescaleBetasZeroSnr, finiteTerminalSigma: false);
        _finalAlphaCumprod = (config.SetAlphaToOne ?? true) ? 1.0 : _training.AlphasCumprod[0];
        _clip = config.ClipSample ?? false;
        _threshold = config.Thresholding ? new DynamicThreshold(config.DynamicThresholdingRatio, config.SampleMaxValue) : null;
    }

    public SchedulerKind Kind => SchedulerKind.Lcm;

    public bool KarrasSigmas => false;

    public ReadOnlySpan<float> Timesteps => _timesteps;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        var original = _config.OriginalInferenceSteps;
        if (inferenceSteps > original)
        {
            throw new ArgumentOutOfRangeException(
                nameof(inferenceSteps), inferenceSteps, $"LCM can take at most original_inference_steps ({original}) steps.");
        }

        if (_timesteps.Length != inferenceSteps)
        {
            // The schedule depends on the step count only: a reused scheduler keeps it.
            var k = _training.Length / original;
            _timesteps = new float[inferenceSteps];
            for (var j = 0; j < inferenceSteps; j++)
            {
                // Index into the reversed distillation schedule (train - 1, train - 1 - k, ...).
                var index = (int)Math.Floor((double)j * original / inferenceSteps);
                _timesteps[j] = ((original - index) * k) - 1;
            }
        }

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
        ArgumentNullException.ThrowIfNull(noise);
        SchedulerGuard.CheckStep(_timesteps.Length, _sampleLength, stepIndex, modelOutput.Length, sample.Length);
        var timestep = (int)_timesteps[stepIndex];
        var last = stepIndex == _timesteps.Length - 1;
        var previous = last ? timestep : (int)_timesteps[stepIndex + 1];
        var acp = _training.AlphasCumprod[timestep];
        var acpPrevious = previous >= 0 ? _training.AlphasCumprod[previous] : _finalAlphaCumprod;

        var scaled = timestep * _config.TimestepScaling;
        var cSkip = (float)(SigmaData * SigmaData / ((scaled * scaled) + (SigmaData * SigmaData)));
        var cOut = (float)(scaled / Math.Sqrt((scaled * scaled) + (SigmaData * SigmaData)));

        var (x0Sample, x0Model) = Prediction.OriginalInVpSpace(_config.PredictionType, Math.Sqrt(acp), Math.Sqrt(1 - acp));
        var a = (float)x0Sample;
        var b = (float)x0Model;
        var clip = _clip;
        var range = (float)_config.ClipSampleRange;
        var signal = (float)Math.Sqrt(acpPrevious);
        var spread = (float)Math.Sqrt(1 - acpPrevious);
        Span<float> thresholded = default;
        if (_threshold is not null)
        {
            // The threshold depends on all of x0, so x0 is computed first.
            thresholded = _original.AsSpan(0, sample.Length);
            for (var i = 0; i < sample.Length; i++)
            {
                thresholded[i] = (a * sample[i]) + (b * modelOutput[i]);
            }

            _threshold.Apply(thresholded);
        }

        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            float original;
            if (_threshold is not null)
            {
                original = thresholded[i];
            }
            else
            {
                original = (a * x) + (b * modelOutput[i]);
                if (clip)
                {
                    original = Math.Clamp(original, -range, range);
                }
            }

            var denoised = (cOut * original) + (cSkip * x);
            sample[i] = last ? denoised : (signal * denoised) + (spread * (float)noise.NextNormal());
        }
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(_timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        VpNoise.Add(_training.AlphasCumprod[(int)_timesteps[stepIndex]], original, noise, destination);
    }
}
