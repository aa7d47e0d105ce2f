using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>PNDMScheduler</c> (Liu et al. 2022): pseudo Runge-Kutta (PRK) warm-up steps, then PLMS, a linear
/// multistep combination of up to four past noise predictions, each fed to the PNDM transfer
/// <c>x_prev = sqrt(acp_prev/acp) x - (acp_prev - acp) e / (acp sqrt(1 - acp_prev) + sqrt(acp (1 - acp) acp_prev))</c>.
/// </summary>
/// <remarks>
/// <para>
/// Reads, with the class's defaults: the beta keys, <c>trained_betas</c>, <c>skip_prk_steps</c> (false),
/// <c>set_alpha_to_one</c> (false), <c>prediction_type</c>, <c>timestep_spacing</c> ("leading") and
/// <c>steps_offset</c>. It has no <c>rescale_betas_zero_snr</c> and no <c>clip_sample</c>: a zero-SNR config keeps
/// its unrescaled schedule here, as in diffusers (the transfer divides by the terminal signal, which rescaling zeroes).
/// Supports the epsilon and v_prediction types; diffusers rejects "sample" and so do we.
/// </para>
/// <para>
/// With <c>skip_prk_steps</c> (Stable Diffusion's configs) the timesteps repeat the second one (50 steps: 981, 961,
/// 961, 941, ..., 1, 51 UNet calls): the second call re-evaluates the first interval with the average of two
/// predictions. The history counter counts steps taken since <see cref="SetTimesteps"/>, like diffusers, so an img2img
/// run that begins at a later index still warms up with the averaged second call.
/// </para>
/// <para>
/// Without it, the three largest intervals are each crossed by one classical Runge-Kutta step of four UNet calls
/// (at the interval's start, twice at its midpoint, at its end), 12 calls that also seed the PLMS history; then PLMS
/// runs at fourth order: <c>steps + 9</c> calls, and at least 4 steps (diffusers fails below that too). A run that
/// begins inside a Runge-Kutta interval (img2img, which diffusers does not handle there) crosses the rest of that
/// interval with single transfers between the listed timesteps, and PLMS then starts at the order its history allows.
/// </para>
/// </remarks>
public sealed class PndmScheduler : IScheduler
{
    private const int HistoryLength = 4;
    private const int RungeKuttaCalls = 12;

    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly double _finalAlphaCumprod;
    private readonly bool _rungeKutta;
    private readonly float[][] _history = new float[HistoryLength][];
    private float[] _timesteps = [];
    private float[] _firstSample = [];
    private float[] _rungeKuttaSum = [];
    private float[] _combined = [];
    private int _scheduleSteps;
    private int _historyCount;
    private int _historyHead;
    private int _counter;
    private int _nextStep = -1;
    private int _beginIndex;
    private int _stepRatio;
    private int _halfStep;
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
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, rescaleZeroSnr: false, finiteTerminalSigma: false);
        _finalAlphaCumprod = (config.SetAlphaToOne ?? false) ? 1.0 : _training.AlphasCumprod[0];
        _rungeKutta = !config.SkipPrkSteps;
        for (var i = 0; i < HistoryLength; i++)
        {
            _history[i] = [];
        }
    }

    public SchedulerKind Kind => SchedulerKind.Pndm;

    public bool KarrasSigmas => false;

    /// <summary>Whether the run starts with Runge-Kutta steps (the config's <c>skip_prk_steps</c> is false).</summary>
    public bool RungeKuttaWarmUp => _rungeKutta;

    public ReadOnlySpan<float> Timesteps => _timesteps;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        if (_rungeKutta && inferenceSteps < 4)
        {
            throw new ArgumentOutOfRangeException(
                nameof(inferenceSteps),
                inferenceSteps,
                "The PNDM scheduler's Runge-Kutta warm-up (the model's scheduler_config.json does not set skip_prk_steps) needs at least 4 steps.");
        }

        if (_scheduleSteps != inferenceSteps)
        {
            // The schedule depends on the step count only: a reused scheduler keeps it.
            _timesteps = _rungeKutta ? RungeKuttaSchedule(inferenceSteps) : PlmsSchedule(inferenceSteps);
            _scheduleSteps = inferenceSteps;
        }

        _stepRatio = _training.Length / inferenceSteps;
        _halfStep = _stepRatio / 2;
        if (_sampleLength != sampleLength)
        {
            for (var i = 0; i < HistoryLength; i++)
            {
                _history[i] = new float[sampleLength];
            }

            _firstSample = new float[sampleLength];
            if (_rungeKutta)
            {
                _rungeKuttaSum = new float[sampleLength];
                _combined = new float[sampleLength];
            }

            _sampleLength = sampleLength;
        }

        _historyCount = 0;
        _historyHead = 0;
        _counter = 0;
        _nextStep = -1;
        _beginIndex = 0;
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
        if (_nextStep < 0)
        {
            _beginIndex = stepIndex;
        }

        _nextStep = stepIndex + 1;
        if (_rungeKutta && stepIndex < RungeKuttaCalls)
        {
            RungeKuttaStep(modelOutput, stepIndex, sample);
        }
        else
        {
            MultistepStep(modelOutput, stepIndex, sample);
        }

        _counter++;
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(_timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        VpNoise.Add(_training.AlphasCumprod[(int)_timesteps[stepIndex]], original, noise, destination);
    }

    /// <summary>The spaced timesteps, descending and whole.</summary>
    private int[] Spaced(int steps)
    {
        var spacing = _config.TimestepSpacing ?? TimestepSpacing.Leading;
        var spaced = TimestepGrid.Descending(spacing, steps, _training.Length, _config.StepsOffset);
        return Array.ConvertAll(spaced, t => (int)Math.Min(Math.Round(t), _training.Length - 1));
    }

    /// <summary>Descending t0 > t1 > ... becomes t0, t1, t1, t2, ...: the second timestep is evaluated twice.</summary>
    private float[] PlmsSchedule(int steps)
    {
        var spaced = Spaced(steps);
        var timesteps = new float[steps == 1 ? 1 : steps + 1];
        for (var i = 0; i < timesteps.Length; i++)
        {
            timesteps[i] = spaced[Math.Min(i <= 1 ? i : i - 1, steps - 1)];
        }

        return timesteps;
    }

    /// <summary>
    /// With d > c > b > a the four largest spaced timesteps and h half the step: d, c+h, c+h, c, c, b+h, b+h, b, b,
    /// a+h, a+h, a (three Runge-Kutta intervals), then a and the rest for PLMS.
    /// </summary>
    private float[] RungeKuttaSchedule(int steps)
    {
        var spaced = Spaced(steps);
        var half = _training.Length / steps / 2;
        var timesteps = new List<float>(steps + 9) { spaced[0] };
        for (var k = 1; k <= 3; k++)
        {
            timesteps.AddRange([spaced[k] + half, spaced[k] + half, spaced[k]]);
            if (k < 3)
            {
                timesteps.Add(spaced[k]);
            }
        }

        for (var k = 3; k < steps; k++)
        {
            timesteps.Add(spaced[k]);
        }

        return [.. timesteps];
    }

    /// <summary>
    /// Call <paramref name="stepIndex"/> of the 12 Runge-Kutta calls. Within an interval starting at timestep T the
    /// calls are at T, T - h, T - h and T - 2h; each transfers the interval's first sample from T, to the midpoint
    /// (calls 0 and 1) or to the end (calls 2 and 3), and the last uses the RK4 average e1/6 + e2/3 + e3/3 + e4/6.
    /// </summary>
    private void RungeKuttaStep(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        var blockStart = stepIndex / 4 * 4;
        var phase = stepIndex % 4;
        var timestep = (int)_timesteps[stepIndex];
        if (_beginIndex > blockStart)
        {
            // img2img began inside this interval: cross the rest of it one listed timestep at a time.
            var next = stepIndex + 1 < _timesteps.Length ? (int)_timesteps[stepIndex + 1] : -1;
            Transfer(sample, timestep, next, modelOutput, sample);
            return;
        }

        var previous = timestep - (phase % 2 == 0 ? _halfStep : 0);
        var sum = _rungeKuttaSum.AsSpan(0, sample.Length);
        var first = _firstSample.AsSpan(0, sample.Length);
        switch (phase)
        {
            case 0:
                sample.CopyTo(first);
                Remember(modelOutput);
                for (var i = 0; i < sum.Length; i++)
                {
                    sum[i] = modelOutput[i] / 6;
                }

                Transfer(first, (int)_timesteps[blockStart], previous, modelOutput, sample);
                break;
            case 1:
            case 2:
                for (var i = 0; i < sum.Length; i++)
                {
                    sum[i] += modelOutput[i] / 3;
                }

                Transfer(first, (int)_timesteps[blockStart], previous, modelOutput, sample);
                break;
            default:
                var combined = _combined.AsSpan(0, sample.Length);
                for (var i = 0; i < combined.Length; i++)
                {
                    combined[i] = sum[i] + (modelOutput[i] / 6);
                }

                Transfer(first, (int)_timesteps[blockStart], previous, combined, sample);
                break;
        }
    }

    /// <summary>A PLMS step, fused in one pass over the sample: the hot path of Stable Diffusion's PNDM.</summary>
    private void MultistepStep(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample)
    {
        var timestep = (int)_timesteps[stepIndex];
        var previous = timestep - _stepRatio;
        var redo = !_rungeKutta && _counter == 1;
        if (redo)
        {
            // The second call redoes the first interval from the first sample; its prediction is not kept.
            previous = timestep;
            timestep += _stepRatio;
        }
        else
        {
            Remember(modelOutput);
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

        // Mode 0: first order (keeping the sample for the redo); 1: the redo's average; 2-4: Adams-Bashforth orders.
        var mode = _historyCount == 1 ? (redo ? 1 : 0) : _historyCount;
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
    }

    /// <summary>The PNDM transfer of <paramref name="from"/> from one timestep to another; the destination may alias it.</summary>
    private void Transfer(ReadOnlySpan<float> from, int timestep, int previous, ReadOnlySpan<float> prediction, Span<float> destination)
    {
        var acp = _training.AlphasCumprod[Math.Min(timestep, _training.Length - 1)];
        var acpPrevious = previous >= 0 ? _training.AlphasCumprod[Math.Min(previous, _training.Length - 1)] : _finalAlphaCumprod;
        var sampleCoefficient = (float)Math.Sqrt(acpPrevious / acp);
        var denominator = (acp * Math.Sqrt(1 - acpPrevious)) + Math.Sqrt(acp * (1 - acp) * acpPrevious);
        var modelCoefficient = (float)((acpPrevious - acp) / denominator);
        var vpAlpha = (float)Math.Sqrt(acp);
        var vpSigma = (float)Math.Sqrt(1 - acp);
        var velocity = _config.PredictionType == PredictionType.VPrediction;
        for (var i = 0; i < destination.Length; i++)
        {
            var x = from[i];
            var e = velocity ? (vpAlpha * prediction[i]) + (vpSigma * x) : prediction[i];
            destination[i] = (sampleCoefficient * x) - (modelCoefficient * e);
        }
    }

    /// <summary>Keeps a prediction in the history (at most the last four).</summary>
    private void Remember(ReadOnlySpan<float> modelOutput)
    {
        _historyHead = (_historyHead + 1) % HistoryLength;
        modelOutput.CopyTo(_history[_historyHead]);
        _historyCount = Math.Min(_historyCount + 1, HistoryLength);
    }

    /// <summary>The k-th most recent kept prediction (k = 1 is the newest); empty when there are fewer.</summary>
    private float[] History(int k) =>
        k <= _historyCount ? _history[(_historyHead - k + 1 + HistoryLength) % HistoryLength] : [];
}
