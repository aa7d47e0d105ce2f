using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>PNDMScheduler</c> in its PLMS mode (Liu et al. 2022): a linear multistep combination of up to four
/// past noise predictions fed to the PNDM transfer <c>x_prev = sqrt(acp_prev/acp) x - (acp_prev - acp) e /
/// (acp sqrt(1 - acp_prev) + sqrt(acp (1 - acp) acp_prev))</c>. Default spacing "leading".
/// </summary>
/// <remarks>
/// <para>
/// The timesteps repeat the second one (50 steps: 981, 961, 961, 941, ..., 1, 51 UNet calls): the second call
/// re-evaluates the first interval with the average of two predictions, as diffusers does with
/// <c>skip_prk_steps</c>. Runge-Kutta (PRK) warm-up steps are not implemented: a config with
/// <c>skip_prk_steps = false</c> still gets these PLMS steps, which is what Stable Diffusion ships anyway.
/// </para>
/// <para>
/// The history counter counts steps taken since <see cref="SetTimesteps"/>, like diffusers, so an img2img run that
/// begins at a later index still warms up with the averaged second call. Like diffusers, that second call then
/// treats its own timestep as one interval below the first; only a run beginning at index 0 hits the repeated
/// timestep exactly. Supports the epsilon and v_prediction types; diffusers rejects "sample" and so do we.
/// </para>
/// </remarks>
public sealed class PndmScheduler : IScheduler
{
    private const int HistoryLength = 4;

    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly double _finalAlphaCumprod;
    private readonly float[][] _history = new float[HistoryLength][];
    private float[] _timesteps = [];
    private float[] _firstSample = [];
    private int _historyCount;
    private int _historyHead;
    private int _counter;
    private int _nextStep = -1;
    private int _stepRatio;
    private int _sampleLength;

    public PndmScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerGuard.RejectKarras(karrasSigmas, SchedulerKind.Pndm);
        config.Validate();
        if (config.PredictionType == PredictionType.Sample)
        {
            throw new ArgumentException("The PNDM scheduler supports the epsilon and v_prediction types, not sample.", nameof(config));
        }

        _config = config;
        _training = new TrainingSchedule(config, finiteTerminalSigma: false);
        _finalAlphaCumprod = config.SetAlphaToOne ? 1.0 : _training.AlphasCumprod[0];
        for (var i = 0; i < HistoryLength; i++)
        {
            _history[i] = [];
        }
    }

    public SchedulerKind Kind => SchedulerKind.Pndm;

    public bool KarrasSigmas => false;

    public ReadOnlySpan<float> Timesteps => _timesteps;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        // Descending t0 > t1 > ... becomes t0, t1, t1, t2, ...: the second timestep is evaluated twice.
        var count = inferenceSteps == 1 ? 1 : inferenceSteps + 1;
        if (_timesteps.Length != count)
        {
            // The schedule depends on the step count only (count is one-to-one with it): a reused scheduler keeps it.
            var spacing = _config.TimestepSpacing ?? TimestepSpacing.Leading;
            var spaced = TimestepGrid.Descending(spacing, inferenceSteps, _training.Length, _config.StepsOffset);
            _timesteps = new float[count];
            for (var i = 0; i < count; i++)
            {
                var source = i <= 1 ? i : i - 1;
                _timesteps[i] = (float)Math.Min(Math.Round(spaced[Math.Min(source, inferenceSteps - 1)]), _training.Length - 1);
            }
        }

        _stepRatio = _training.Length / inferenceSteps;
        if (_sampleLength != sampleLength)
        {
            for (var i = 0; i < HistoryLength; i++)
            {
                _history[i] = new float[sampleLength];
            }

            _firstSample = new float[sampleLength];
            _sampleLength = sampleLength;
        }

        _historyCount = 0;
        _historyHead = 0;
        _counter = 0;
        _nextStep = -1;
    }

    public float ModelInputScale(int stepIndex)
    {
        SchedulerGuard.CheckIndex(stepIndex, _timesteps.Length);
        return 1f;
    }

    public void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        SchedulerGuard.CheckStep(_timesteps.Length, _sampleLength, stepIndex, modelOutput.Length, sample.Length);
        SchedulerGuard.CheckConsecutive(_nextStep, stepIndex);
        _nextStep = stepIndex + 1;

        var timestep = (int)_timesteps[stepIndex];
        var previous = timestep - _stepRatio;
        if (_counter == 1)
        {
            // The second call redoes the first interval from the first sample; its prediction is not kept.
            previous = timestep;
            timestep += _stepRatio;
        }
        else
        {
            _historyHead = (_historyHead + 1) % HistoryLength;
            modelOutput.CopyTo(_history[_historyHead]);
            _historyCount = Math.Min(_historyCount + 1, HistoryLength);
        }

        var acp = _training.AlphasCumprod[Math.Min(timestep, _training.Length - 1)];
        var acpPrevious = previous >= 0 ? _training.AlphasCumprod[previous] : _finalAlphaCumprod;
        var sampleCoefficient = (float)Math.Sqrt(acpPrevious / acp);
        var denominator = (acp * Math.Sqrt(1 - acpPrevious)) + Math.Sqrt(acp * (1 - acp) * acpPrevious);
        var modelCoefficient = (float)((acpPrevious - acp) / denominator);
        var vpAlpha = (float)Math.Sqrt(acp);
        var vpSigma = (float)Math.Sqrt(1 - acp);
        var velocity = _config.PredictionType == PredictionType.VPrediction;

        var e1 = History(1);
        var e2 = History(2);
        var e3 = History(3);
        var e4 = History(4);
        var mode = _historyCount == 1 ? (_counter == 0 ? 0 : 1) : _historyCount;
        for (var i = 0; i < sample.Length; i++)
        {
            float e;
            float x;
            switch (mode)
            {
                case 0:
                    x = sample[i];
                    _firstSample[i] = x;
                    e = modelOutput[i];
                    break;
                case 1:
                    x = _firstSample[i];
                    e = (modelOutput[i] + e1[i]) / 2;
                    break;
                case 2:
                    x = sample[i];
                    e = ((3 * e1[i]) - e2[i]) / 2;
                    break;
                case 3:
                    x = sample[i];
                    e = ((23 * e1[i]) - (16 * e2[i]) + (5 * e3[i])) / 12;
                    break;
                default:
                    x = sample[i];
                    e = ((55 * e1[i]) - (59 * e2[i]) + (37 * e3[i]) - (9 * e4[i])) / 24;
                    break;
            }

            if (velocity)
            {
                e = (vpAlpha * e) + (vpSigma * x);
            }

            sample[i] = (sampleCoefficient * x) - (modelCoefficient * e);
        }

        _counter++;
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(_timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        VpNoise.Add(_training.AlphasCumprod[(int)_timesteps[stepIndex]], original, noise, destination);
    }

    /// <summary>The k-th most recent kept prediction (k = 1 is the newest); empty when there are fewer.</summary>
    private float[] History(int k) =>
        k <= _historyCount ? _history[(_historyHead - k + 1 + HistoryLength) % HistoryLength] : [];
}
