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
public sealed class EulerAncestralScheduler : SigmaSpaceScheduler
{
    public EulerAncestralScheduler(SchedulerConfig config, bool karrasSigmas = false)
        : base(config, karrasSigmas, config?.RescaleBetasZeroSnr ?? false, OptionsOf)
    {
    }

    public override SchedulerKind Kind => SchedulerKind.EulerAncestral;

    public override void Step(ReadOnlySpan<float> modelOutput, int stepIndex, Span<float> sample, NoiseGenerator noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        CheckStep(stepIndex, modelOutput.Length, sample.Length);
        var sigma = Schedule.Sigmas[stepIndex];
        var next = Schedule.Sigmas[stepIndex + 1];
        var sigmaUp = Math.Sqrt(next * next * ((sigma * sigma) - (next * next)) / (sigma * sigma));
        var sigmaDown = Math.Sqrt(Math.Max((next * next) - (sigmaUp * sigmaUp), 0.0));

        var (fromSample, fromModel) = Prediction.OriginalInSigmaSpace(Config.PredictionType, sigma);
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

    private static SigmaScheduleOptions OptionsOf(SchedulerConfig config, bool karrasSigmas) => new(
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
