using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>DPMSolverMultistepScheduler</c> as DPM++ 2M (Lu et al. 2022): algorithm "dpmsolver++", solver
/// order 2. It works on unscaled variance-preserving samples (init sigma 1, input scale 1) and keeps the last two
/// predicted clean samples.
/// </summary>
/// <remarks>
/// <para>
/// The sampler's name fixes <c>algorithm_type</c> ("dpmsolver++") and <c>solver_order</c> (2), as diffusers' own
/// mapping of AUTOMATIC1111's "DPM++ 2M" does; the config's values of those two are not used. Reads, with the class's
/// defaults: the beta keys, <c>trained_betas</c>, <c>prediction_type</c>, <c>thresholding</c>,
/// <c>dynamic_thresholding_ratio</c>, <c>sample_max_value</c>, <c>solver_type</c> ("midpoint"; "heun"),
/// <c>lower_order_final</c> (true), <c>euler_at_final</c> (false), <c>use_karras_sigmas</c>,
/// <c>use_exponential_sigmas</c>, <c>use_lu_lambdas</c>, <c>final_sigmas_type</c> ("zero"),
/// <c>lambda_min_clipped</c> (-inf), <c>timestep_spacing</c> ("linspace"), <c>steps_offset</c> and
/// <c>rescale_betas_zero_snr</c>; <c>use_beta_sigmas</c>, <c>use_flow_sigmas</c> and a learned
/// <c>variance_type</c> are refused.
/// </para>
/// <para>
/// With <c>alpha = 1 / sqrt(sigma^2 + 1)</c>, <c>s = sigma * alpha</c> and <c>lambda = -ln sigma</c>, the first-order
/// step is <c>x' = (s'/s) x - alpha' (e^-h - 1) D0</c> with <c>h = lambda' - lambda</c>; the second-order step adds
/// <c>- alpha' (e^-h - 1) D1 / 2</c> (midpoint) or <c>+ alpha' ((e^-h - 1) / h + 1) D1</c> (heun), with
/// <c>D1 = (m0 - m1) h / h_prev</c>. The last step is first order when it ends on sigma 0, with
/// <c>euler_at_final</c>, or with <c>lower_order_final</c> and fewer than 15 steps. The history counts steps taken,
/// so an img2img run starting at any index begins with a first-order step.
/// </para>
/// <para>
/// Timesteps are whole numbers, as diffusers' int64: Karras and Lu sigmas map back to rounded timesteps, except with
/// the squaredcos_cap_v2 schedule (and for exponential sigmas), where diffusers truncates them. A clipped
/// <c>lambda_min_clipped</c> with "trailing" spacing can give fewer timesteps than steps asked for, as in diffusers.
/// </para>
/// </remarks>
public sealed class DpmSolverMultistepScheduler : IScheduler
{
    private const string ClassName = "DPMSolverMultistepScheduler";

    private readonly SchedulerConfig _config;
    private readonly TrainingSchedule _training;
    private readonly SigmaSpread _spread;
    private readonly bool _heun;
    private readonly bool _finalSigmaMin;
    private readonly DynamicThreshold? _threshold;
    private float[] _timesteps = [];
    private double[] _sigmas = [];
    private float[] _sigmasAsFloat = [];
    private float[] _newest = [];
    private float[] _previous = [];
    private int _scheduleSteps;
    private int _lowerOrderNumbers;
    private int _nextStep = -1;
    private int _sampleLength;

    public DpmSolverMultistepScheduler(SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        _config = config;
        KarrasSigmas = karrasSigmas || config.UseKarrasSigmas;
        _training = new TrainingSchedule(config, BetaDefaults.Ddpm, config.RescaleBetasZeroSnr, finiteTerminalSigma: true);
        _spread = SchedulerGuard.Spread(config, KarrasSigmas, ClassName, readsLuLambdas: true);
        if (config.UseFlowSigmas)
        {
            throw SchedulerGuard.Unsupported(ClassName, "use_flow_sigmas", "flow-matching sigmas are for flow models, not Stable Diffusion");
        }

        if (config.VarianceType is "learned" or "learned_range")
        {
            throw SchedulerGuard.Unsupported(ClassName, "variance_type", $"\"{config.VarianceType}\" needs a UNet that also predicts the variance");
        }

        // diffusers replaces the UniPC / DEIS solver types with "midpoint".
        var solver = SchedulerGuard.Choice(
            config.SolverType, "solver_type", ClassName, "midpoint", ["midpoint", "heun"], ("logrho", "midpoint"), ("bh1", "midpoint"), ("bh2", "midpoint"));
        _heun = solver == "heun";
        _finalSigmaMin = SchedulerGuard.Choice(config.FinalSigmasType, "final_sigmas_type", ClassName, "zero", ["zero", "sigma_min"]) == "sigma_min";
        _threshold = config.Thresholding ? new DynamicThreshold(config.DynamicThresholdingRatio, config.SampleMaxValue) : null;
    }

    public SchedulerKind Kind => SchedulerKind.DpmPlusPlus2M;

    public bool KarrasSigmas { get; }

    public ReadOnlySpan<float> Timesteps => _timesteps;

    /// <summary>The sigma of each step, then the one the last step ends on (one more entry than <see cref="Timesteps"/>).</summary>
    public ReadOnlySpan<float> Sigmas => _sigmasAsFloat;

    public float InitNoiseSigma => 1f;

    public void SetTimesteps(int inferenceSteps, int sampleLength)
    {
        SchedulerGuard.CheckInferenceSteps(inferenceSteps, sampleLength, _training.Length);
        if (_scheduleSteps != inferenceSteps)
        {
            // The schedule depends on the step count only: a reused scheduler keeps it.
            ComputeSchedule(inferenceSteps);
            _scheduleSteps = inferenceSteps;
        }

        if (_sampleLength != sampleLength)
        {
            _newest = new float[sampleLength];
            _previous = new float[sampleLength];
            _threshold?.Prepare(sampleLength);
            _sampleLength = sampleLength;
        }

        _lowerOrderNumbers = 0;
        _nextStep = -1;
    }

    private void ComputeSchedule(int inferenceSteps)
    {
        var n = inferenceSteps;
        var train = _training.Length;

        // Timesteps whose log-SNR lies below lambda_min_clipped are left out (diffusers: critical for cosine schedules).
        var clipped = 0;
        for (var t = 0; t < train; t++)
        {
            if (LambdaOf(_training.AlphasCumprod[t]) < _config.LambdaMinClipped)
            {
                clipped++;
            }
        }

        var last = train - clipped;
        double[] timesteps;
        switch (_config.TimestepSpacing ?? TimestepSpacing.Linspace)
        {
            case TimestepSpacing.Linspace:
                // n + 1 points over [0, last - 1], rounded, descending, without the final one.
                var points = TimestepGrid.Linspace(0, last - 1, n + 1);
                timesteps = new double[n];
                for (var i = 0; i < n; i++)
                {
                    timesteps[i] = Math.Round(points[n - i]);
                }

                break;
            case TimestepSpacing.Leading:
                var ratio = last / (n + 1);
                timesteps = new double[n];
                for (var i = 0; i < n; i++)
                {
                    timesteps[i] = ((n - i) * ratio) + _config.StepsOffset;
                }

                break;
            case TimestepSpacing.Trailing:
                // last, last - train / n, ... down to above 0, rounded, minus one (n values when nothing is clipped).
                var realRatio = (double)train / n;
                var count = last == train ? n : (int)Math.Ceiling((last / realRatio) - 1e-9);
                timesteps = new double[count];
                for (var i = 0; i < count; i++)
                {
                    timesteps[i] = Math.Round(last - (i * realRatio)) - 1;
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown timestep spacing {_config.TimestepSpacing}.");
        }

        var cosine = _config.TrainedBetas is null && _config.BetaSchedule == BetaSchedule.SquaredCosCapV2;
        double[] sigmas;
        switch (_spread)
        {
            case SigmaSpread.Karras:
            case SigmaSpread.Exponential:
            case SigmaSpread.LuLambdas:
                // Over the whole training range, whatever the spacing; timesteps come back through log-sigma interpolation.
                sigmas = _spread switch
                {
                    SigmaSpread.Karras => TrainingSchedule.KarrasSigmas(_training.Sigmas[0], _training.Sigmas[train - 1], n),
                    _ => TrainingSchedule.ExponentialSigmas(_training.Sigmas[0], _training.Sigmas[train - 1], n),
                };
                timesteps = new double[n];
                for (var i = 0; i < n; i++)
                {
                    var t = _training.SigmaToTimestep(sigmas[i]);
                    var rounded = _spread != SigmaSpread.Exponential && !cosine;
                    timesteps[i] = rounded ? Math.Round(t) : Math.Truncate(t);
                }

                break;
            default:
                sigmas = new double[timesteps.Length];
                for (var i = 0; i < timesteps.Length; i++)
                {
                    timesteps[i] = Math.Min(timesteps[i], train - 1);
                    sigmas[i] = _training.SigmaAt(timesteps[i]);
                }

                break;
        }

        var stepCount = timesteps.Length;
        _sigmas = new double[stepCount + 1];
        sigmas.CopyTo(_sigmas, 0);
        _sigmas[stepCount] = _finalSigmaMin ? _training.Sigmas[0] : 0.0;
        _sigmasAsFloat = Array.ConvertAll(_sigmas, s => (float)s);
        _timesteps = Array.ConvertAll(timesteps, t => (float)t);
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
        var newest = _newest.AsSpan(0, sample.Length);
        for (var i = 0; i < sample.Length; i++)
        {
            newest[i] = (a * sample[i]) + (b * modelOutput[i]);
        }

        _threshold?.Apply(newest);

        var (alphaT, sigmaT) = AlphaSigma(_sigmas[stepIndex + 1]);
        var lambdaT = Lambda(_sigmas[stepIndex + 1]);
        var lambdaS = Lambda(_sigmas[stepIndex]);
        var h = lambdaT - lambdaS;

        // At a final sigma of 0, lambda is +inf and h is +inf: exp(-h) is 0 and the step returns x0 exactly.
        var sampleCoefficient = (float)(sigmaT / sigmaS);
        var phi = Math.Exp(-h) - 1.0;
        var d0Coefficient = (float)(-alphaT * phi);
        var last = stepIndex == _timesteps.Length - 1;
        var lowerOrderFinal = last
            && (_config.EulerAtFinal || (_config.LowerOrderFinal && _timesteps.Length < 15) || !_finalSigmaMin);
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
            var d1Coefficient = (float)((_heun ? alphaT * ((phi / h) + 1.0) : -0.5 * alphaT * phi) / r0);
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

    /// <summary>Half the log signal-to-noise ratio of a training timestep, <c>ln sqrt(acp) - ln sqrt(1 - acp)</c>.</summary>
    private static double LambdaOf(double alphaCumprod) => Math.Log(Math.Sqrt(alphaCumprod)) - Math.Log(Math.Sqrt(1 - alphaCumprod));
}
