namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The inference schedule of the sigma-space (k-diffusion style) schedulers: Euler, Euler ancestral and LMS.
/// Follows diffusers' <c>EulerDiscreteScheduler.set_timesteps</c>: spaced (fractional) timesteps, sigmas interpolated
/// linearly at them, optionally replaced by Karras sigmas whose timesteps come back through log-sigma interpolation,
/// and a final sigma of zero.
/// </summary>
internal sealed class SigmaSchedule
{
    private SigmaSchedule(float[] timesteps, double[] sigmas, float initNoiseSigma)
    {
        Timesteps = timesteps;
        Sigmas = sigmas;
        InitNoiseSigma = initNoiseSigma;
        InputScales = new float[timesteps.Length];
        SigmasAsFloat = new float[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++)
        {
            SigmasAsFloat[i] = (float)sigmas[i];
        }

        for (var i = 0; i < timesteps.Length; i++)
        {
            InputScales[i] = (float)(1.0 / Math.Sqrt((sigmas[i] * sigmas[i]) + 1));
        }
    }

    public static SigmaSchedule Empty { get; } = new([], [], 1f);

    public float[] Timesteps { get; }

    /// <summary>One sigma per step plus the final 0.</summary>
    public double[] Sigmas { get; }

    public float[] SigmasAsFloat { get; }

    /// <summary><c>1 / sqrt(sigma^2 + 1)</c>: brings a sigma-space sample back to unit variance for the UNet.</summary>
    public float[] InputScales { get; }

    public float InitNoiseSigma { get; }

    public static SigmaSchedule Create(TrainingSchedule training, SchedulerConfig config, int steps, bool karras)
    {
        var spacing = config.TimestepSpacing ?? TimestepSpacing.Linspace;
        var spaced = TimestepGrid.Descending(spacing, steps, training.Length, config.StepsOffset);

        // diffusers keeps these timesteps as float32 and interpolates at the rounded values.
        var timesteps = new float[steps];
        var sigmas = new double[steps + 1];
        for (var i = 0; i < steps; i++)
        {
            timesteps[i] = (float)spaced[i];
            sigmas[i] = training.SigmaAt(timesteps[i]);
        }

        if (karras)
        {
            // The Karras range is that of the spaced schedule (diffusers' in_sigmas); with the default "linspace"
            // spacing those are exactly the training schedule's largest and smallest sigmas.
            var karrasSigmas = TrainingSchedule.KarrasSigmas(sigmas[steps - 1], sigmas[0], steps);
            for (var i = 0; i < steps; i++)
            {
                sigmas[i] = karrasSigmas[i];
                timesteps[i] = (float)training.SigmaToTimestep(karrasSigmas[i]);
            }
        }

        sigmas[steps] = 0.0;

        var maxSigma = 0.0;
        foreach (var sigma in sigmas)
        {
            maxSigma = Math.Max(maxSigma, sigma);
        }

        // diffusers: for "leading" the first sigma is paired with the unit-variance latent, hence sqrt(max^2 + 1).
        var initNoiseSigma = spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing
            ? maxSigma
            : Math.Sqrt((maxSigma * maxSigma) + 1);
        return new SigmaSchedule(timesteps, sigmas, (float)initNoiseSigma);
    }

    /// <summary><c>destination = original + sigma_i * noise</c>.</summary>
    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, int stepIndex, Span<float> destination)
    {
        SchedulerGuard.CheckAddNoise(Timesteps.Length, stepIndex, original.Length, noise.Length, destination.Length);
        var sigma = SigmasAsFloat[stepIndex];
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = original[i] + (sigma * noise[i]);
        }
    }

    public float ModelInputScale(int stepIndex)
    {
        SchedulerGuard.CheckIndex(stepIndex, Timesteps.Length);
        return InputScales[stepIndex];
    }
}
