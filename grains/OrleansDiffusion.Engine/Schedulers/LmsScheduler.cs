using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// diffusers' <c>LMSDiscreteScheduler</c>, order 4: a linear multistep method on the ODE derivative
/// <c>d = (x - x0) / sigma</c>, <c>x' = x + sum_j c_j d_(i-j)</c>, where <c>c_j</c> integrates the Lagrange basis
/// polynomial of node <c>sigma_(i-j)</c> from <c>sigma_i</c> to <c>sigma_(i+1)</c>.
/// </summary>
/// <remarks>
/// <para>
/// Reads, with the class's defaults: the beta keys, <c>trained_betas</c>, <c>use_karras_sigmas</c>,
/// <c>use_exponential_sigmas</c>, <c>use_beta_sigmas</c> (refused), <c>prediction_type</c>, <c>timestep_spacing</c>
/// ("linspace") and <c>steps_offset</c>. It has no <c>rescale_betas_zero_snr</c>: a zero-SNR config keeps its
/// unrescaled schedule here (sigma_max 14.6 for SD, not 4096), as in diffusers. Karras and exponential sigmas span
/// the spaced sigmas' own range (no <c>sigma_min</c> / <c>sigma_max</c>).
/// </para>
/// <para>
/// diffusers integrates the coefficients with scipy's adaptive quadrature; the integrand is a polynomial of degree at
/// most 3, so three-point Gauss-Legendre is exact and needs no allocation. The order is the number of derivatives
/// actually held (at most 4). diffusers uses <c>min(step_index + 1, 4)</c> instead, which is the same for a run
/// starting at index 0 but, for img2img starting later, asks for more history than exists; counting held
/// derivatives keeps the method consistent from any begin index.
/// </para>
/// </remarks>
public sealed class LmsScheduler : SigmaSpaceScheduler
{
    private const int Order = 4;
    private const string ClassName = "LMSDiscreteScheduler";

    // Three-point Gauss-Legendre on [-1, 1]: exact for polynomials up to degree 5.
    private static readonly double[] GaussNodes = [-0.7745966692414834, 0.0, 0.7745966692414834];
    private static readonly double[] GaussWeights = [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0];

    private readonly float[][] _derivatives = [[], [], [], []];
    private int _count;
    private int _head;
    private int _nextStep = -1;

    public LmsScheduler(SchedulerConfig config, bool karrasSigmas = false)
        : base(config, karrasSigmas || (config?.UseKarrasSigmas ?? false), rescaleZeroSnr: false, OptionsOf)
    {
    }

    public override SchedulerKind Kind => SchedulerKind.Lms;

    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        CheckStep(stepIndex, modelOutput.Length, sample.Length);
        SchedulerGuard.CheckConsecutive(_nextStep, stepIndex);
        _nextStep = stepIndex + 1;

        var sigmas = Schedule.Sigmas;
        var sigma = sigmas[stepIndex];
        var (fromSample, fromModel) = Prediction.OriginalInSigmaSpace(Config.PredictionType, sigma);
        var a = (float)fromSample;
        var b = (float)fromModel;
        var inverseSigma = (float)(1 / sigma);

        _head = (_head + 1) % Order;
        _count = Math.Min(_count + 1, Order);
        var newest = _derivatives[_head];
        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            newest[i] = (x - ((a * x) + (b * modelOutput[i]))) * inverseSigma;
        }

        for (var j = 0; j < _count; j++)
        {
            var coefficient = (float)Coefficient(sigmas, _count, stepIndex, j);
            var derivative = _derivatives[(_head - j + Order) % Order];
            for (var i = 0; i < sample.Length; i++)
            {
                sample[i] += coefficient * derivative[i];
            }
        }
    }

    private protected override void Restart(bool resized)
    {
        if (resized)
        {
            for (var i = 0; i < Order; i++)
            {
                _derivatives[i] = new float[SampleLength];
            }
        }

        _count = 0;
        _head = 0;
        _nextStep = -1;
    }

    private static SigmaScheduleOptions OptionsOf(SchedulerConfig config, bool karrasSigmas) => new(
        config.TimestepSpacing ?? TimestepSpacing.Linspace,
        config.StepsOffset,
        Float32Timesteps: false,
        LogLinear: false,
        SchedulerGuard.Spread(config, karrasSigmas, ClassName, readsLuLambdas: false),
        SigmaMin: null,
        SigmaMax: null,
        FinalSigmaMin: false,
        ContinuousTimesteps: false);

    /// <summary>
    /// The integral over [sigma_t, sigma_(t+1)] of the Lagrange basis polynomial that is 1 at sigma_(t-current)
    /// and 0 at the other nodes sigma_t, ..., sigma_(t-order+1).
    /// </summary>
    private static double Coefficient(double[] sigmas, int order, int t, int current)
    {
        var from = sigmas[t];
        var to = sigmas[t + 1];
        var half = (to - from) / 2;
        var middle = (to + from) / 2;
        var integral = 0.0;
        for (var q = 0; q < GaussNodes.Length; q++)
        {
            var tau = middle + (half * GaussNodes[q]);
            var product = 1.0;
            for (var k = 0; k < order; k++)
            {
                if (k != current)
                {
                    product *= (tau - sigmas[t - k]) / (sigmas[t - current] - sigmas[t - k]);
                }
            }

            integral += GaussWeights[q] * product;
        }

        return integral * half;
    }
}
