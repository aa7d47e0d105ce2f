namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>How one sigma-space scheduler builds its <see cref="SigmaSchedule"/>, resolved from the config by its class.</summary>
/// <param name="Spacing">The timestep spacing.</param>
/// <param name="StepsOffset">Added to "leading" timesteps.</param>
/// <param name="Float32Timesteps">Round the spaced timesteps to float32 before interpolating (Euler, Euler a).</param>
/// <param name="LogLinear">Euler's <c>interpolation_type = "log_linear"</c>.</param>
/// <param name="Spread">Interpolated, Karras or exponential sigmas.</param>
/// <param name="SigmaMin">Euler's <c>sigma_min</c>; null: the low end of the interpolated sigmas.</param>
/// <param name="SigmaMax">Euler's <c>sigma_max</c>; null: the high end of the interpolated sigmas.</param>
/// <param name="FinalSigmaMin">End on the training schedule's smallest sigma instead of 0 (<c>final_sigmas_type</c>).</param>
/// <param name="ContinuousTimesteps">Feed the UNet <c>0.25 ln sigma</c> (Euler's <c>timestep_type = "continuous"</c> with v_prediction).</param>
internal sealed record SigmaScheduleOptions(
    TimestepSpacing Spacing,
    int StepsOffset,
    bool Float32Timesteps,
    bool LogLinear,
    SigmaSpread Spread,
    double? SigmaMin,
    double? SigmaMax,
    bool FinalSigmaMin,
    bool ContinuousTimesteps);
