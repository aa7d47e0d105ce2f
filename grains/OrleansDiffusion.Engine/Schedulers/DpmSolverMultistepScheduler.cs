using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>DPMSolverMultistepScheduler</c> configured as DPM++ 2M (Lu et al. 2022): algorithm "dpmsolver++",
/// solver order 2 with the midpoint update, lower order at the final step, final sigma 0. It works on unscaled
/// variance-preserving samples (init sigma 1, input scale 1) and keeps the last two predicted clean samples.
/// Default spacing "linspace"; optional Karras sigmas.
/// </summary>
/// <remarks>
/// With <c>alpha = 1 / sqrt(sigma^2 + 1)</c>, <c>s = sigma * alpha</c> and <c>lambda = -ln sigma</c>, the first-order
/// step is <c>x' = (s'/s) x - alpha' (e^-h - 1) D0</c> with <c>h = lambda' - lambda</c>, and the second-order step adds
/// <c>- alpha' (e^-h - 1) D1 / 2</c> with <c>D1 = (m0 - m1) h / h_prev</c>. The history counts steps taken, so an
/// img2img run starting at any index begins with a first-order step.
/// </remarks>
public sealed class DpmSolverMultistepScheduler : IScheduler
{
    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private float[] _timesteps = [];
    private double[] _sigmas = [];
    private float[] _sigmasAsFloat = [];
    private float[] _newest = [];
    private float[] _previous = [];
    private int _lowerOrderNumbers;
    private int _nextStep = -1;
    private int _sampleLength;

    public DpmSolverMultistepScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        KarrasSigmas = karrasSigmas;
        _training = new TrainingSchedule(config, finiteTerminalSigma: true);
    }

    public SchedulerKind Kind => SchedulerKind.DpmPlusPlus2M;

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => _timesteps;

    /// <summary>The sigma of each step, then the final 0 (one more entry than <see cref="Timesteps"/>).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmasAsFloat;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        if (_timesteps.Length != inferenceSteps)
        {
            // The schedule depends on the step count only: a reused scheduler keeps it.
            ComputeSchedule(inferenceSteps);
        }

        if (_sampleLength != sampleLength)
        {
            _newest = new float[sampleLength];
            _previous = new float[sampleLength];
            _sampleLength = sampleLength;
        }

        _lowerOrderNumbers = 0;
        _nextStep = -1;
    }

    private void ComputeSchedule(int inferenceSteps)
    {
        var n = inferenceSteps;
        var train = _training.Length;
        var timesteps = new double[n];
        switch (_config.TimestepSpacing ?? TimestepSpacing.Linspace)
        {
            case TimestepSpacing.Linspace:
                // n + 1 points over [0, train - 1], rounded, descending, without the trailing 0.
                var points = TimestepGrid.Linspace(0, train - 1, n + 1);
                for (var i = 0; i < n; i++)
                {
                    timesteps[i] = Math.Round(points[n - i]);
                }

                break;
            case TimestepSpacing.Leading:
                var ratio = train / (n + 1);
                for (var i = 0; i < n; i++)
                {
                    timesteps[i] = ((n - i) * ratio) + _config.StepsOffset;
                }

                break;
            case TimestepSpacing.Trailing:
                var descending = TimestepGrid.Descending(TimestepSpacing.Trailing, n, train, _config.StepsOffset);
                descending.CopyTo(timesteps, 0);
                break;
            default:
                throw new InvalidOperationException($"Unknown timestep spacing {_config.TimestepSpacing}.");
        }

        var sigmas = new double[n + 1];
        if (KarrasSigmas)
        {
            // diffusers spans the whole training range here, whatever the spacing, and rounds the timesteps.
            var karras = TrainingSchedule.KarrasSigmas(_training.Sigmas[0], _training.Sigmas[train - 1], n);
            for (var i = 0; i < n; i++)
            {
                sigmas[i] = karras[i];
                timesteps[i] = Math.Round(_training.SigmaToTimestep(karras[i]));
            }
        }
        else
        {
            for (var i = 0; i < n; i++)
            {
                timesteps[i] = Math.Min(timesteps[i], train - 1);
                sigmas[i] = _training.SigmaAt(timesteps[i]);
            }
        }

        sigmas[n] = 0.0;
        _sigmas = sigmas;
        _sigmasAsFloat = new float[n + 1];
        _timesteps = new float[n];
        for (var i = 0; i <= n; i++)
        {
            _sigmasAsFloat[i] = (float)sigmas[i];
        }

        for (var i = 0; i < n; i++)
        {
            _timesteps[i] = (float)timesteps[i];
        }
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

        // Rotate: the old newest becomes the previous prediction, the old previous is overwritten.
        (_newest, _previous) = (_previous, _newest);

        var (alphaS, sigmaS) = AlphaSigma(_sigmas[stepIndex]);
        var (x0Sample, x0Model) = Prediction.OriginalInVpSpace(_config.PredictionType, alphaS, sigmaS);
        var a = (float)x0Sample;
        var b = (float)x0Model;
        var newest = _newest;
        for (var i = 0; i < sample.Length; i++)
        {
            newest[i] = (a * sample[i]) + (b * modelOutput[i]);
        }

        var (alphaT, sigmaT) = AlphaSigma(_sigmas[stepIndex + 1]);
        var lambdaT = Lambda(_sigmas[stepIndex + 1]);
        var lambdaS = Lambda(_sigmas[stepIndex]);
        var h = lambdaT - lambdaS;

        // At the final sigma 0, lambda is +inf and h is +inf: exp(-h) is 0 and the step returns x0 exactly.
        var sampleCoefficient = (float)(sigmaT / sigmaS);
        var d0Coefficient = (float)(-alphaT * (Math.Exp(-h) - 1.0));
        var lowerOrderFinal = stepIndex == _timesteps.Length - 1;
        if (_lowerOrderNumbers < 1 || lowerOrderFinal)
        {
            for (var i = 0; i < sample.Length; i++)
            {
                sample[i] = (sampleCoefficient * sample[i]) + (d0Coefficient * newest[i]);
            }
        }
        else
        {
            var h0 = lambdaS - Lambda(_sigmas[stepIndex - 1]);
            var r0 = h0 / h;
            var d1Coefficient = (float)(0.5 * -alphaT * (Math.Exp(-h) - 1.0) / r0);
            var previous = _previous;
            for (var i = 0; i < sample.Length; i++)
            {
                var m0 = newest[i];
                sample[i] = (sampleCoefficient * sample[i]) + (d0Coefficient * m0) + (d1Coefficient * (m0 - previous[i]));
            }
        }

        if (_lowerOrderNumbers < 2)
        {
            _lowerOrderNumbers++;
        }
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(_timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        var (alpha, sigma) = AlphaSigma(_sigmas[stepIndex]);
        var a = (float)alpha;
        var s = (float)sigma;
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (a * original[i]) + (s * noise[i]);
        }
    }

    /// <summary>The variance-preserving pair for a sigma-space sigma: alpha = 1/sqrt(sigma^2+1), sigma_vp = sigma alpha.</summary>
    private static (double Alpha, double Sigma) AlphaSigma(double sigma)
    {
        var alpha = 1.0 / Math.Sqrt((sigma * sigma) + 1);
        return (alpha, sigma * alpha);
    }

    /// <summary>Half the log signal-to-noise ratio, <c>ln(alpha / sigma_vp) = -ln sigma</c>.</summary>
    private static double Lambda(double sigma) => -Math.Log(sigma);
}
