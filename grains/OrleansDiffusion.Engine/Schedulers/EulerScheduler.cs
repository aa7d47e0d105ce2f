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
public sealed class EulerScheduler : SigmaSpaceScheduler
{
    private const string ClassName = "EulerDiscreteScheduler";

    public EulerScheduler(SchedulerConfig config, bool karrasSigmas = false)
        : base(config, karrasSigmas || (config?.UseKarrasSigmas ?? false), config?.RescaleBetasZeroSnr ?? false, OptionsOf)
    {
    }

    public override SchedulerKind Kind => SchedulerKind.Euler;

    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        CheckStep(stepIndex, modelOutput.Length, sample.Length);
        var sigma = Schedule.Sigmas[stepIndex];
        var (fromSample, fromModel) = Prediction.OriginalInSigmaSpace(Config.PredictionType, sigma);
        var a = (float)fromSample;
        var b = (float)fromModel;
        var dtOverSigma = (float)((Schedule.Sigmas[stepIndex + 1] - sigma) / sigma);
        for (var i = 0; i < sample.Length; i++)
        {
            var x = sample[i];
            var original = (a * x) + (b * modelOutput[i]);
            sample[i] = x + ((x - original) * dtOverSigma);
        }
    }

    private static SigmaScheduleOptions OptionsOf(SchedulerConfig config, bool karrasSigmas)
    {
        var interpolation = SchedulerGuard.Choice(config.InterpolationType, "interpolation_type", ClassName, "linear", ["linear", "log_linear"]);
        var timestepType = SchedulerGuard.Choice(config.TimestepType, "timestep_type", ClassName, "discrete", ["discrete", "continuous"]);
        var finalSigmas = SchedulerGuard.Choice(config.FinalSigmasType, "final_sigmas_type", ClassName, "zero", ["zero", "sigma_min"]);
        return new SigmaScheduleOptions(
            config.TimestepSpacing ?? TimestepSpacing.Linspace,
            config.StepsOffset,
            Float32Timesteps: true,
            LogLinear: interpolation == "log_linear",
            SchedulerGuard.Spread(config, karrasSigmas, ClassName, readsLuLambdas: false),
            config.SigmaMin,
            config.SigmaMax,
            FinalSigmaMin: finalSigmas == "sigma_min",
            ContinuousTimesteps: timestepType == "continuous" && config.PredictionType == PredictionType.VPrediction);
    }
}
