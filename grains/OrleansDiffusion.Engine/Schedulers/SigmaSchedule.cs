namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The inference schedule of the sigma-space (k-diffusion style) schedulers: Euler, Euler ancestral and LMS.
/// Follows diffusers' <c>set_timesteps</c> of those classes: spaced timesteps, sigmas interpolated at them (or
/// log-linear), optionally replaced by Karras or exponential sigmas whose timesteps come back through log-sigma
/// interpolation, and a final sigma (zero, or the training schedule's smallest).
/// </summary>
/// <remarks>
/// The schedule may hold more sigmas than steps plus one: diffusers' "log_linear" interpolation makes
/// <c>steps + 1</c> sigmas before the final one, and the run still takes <c>steps</c> steps, ending on the last of them.
/// </remarks>
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

    /// <summary>One sigma per step, then the sigma the last step ends on (and with log-linear sigmas one more).</summary>
    public double[] Sigmas { get; }

    public float[] SigmasAsFloat { get; }

    /// <summary><c>1 / sqrt(sigma^2 + 1)</c>: brings a sigma-space sample back to unit variance for the UNet.</summary>
    public float[] InputScales { get; }

    public float InitNoiseSigma { get; }

    public static SigmaSchedule Create(TrainingSchedule training, SigmaScheduleOptions options, int steps)
    {
        var spaced = TimestepGrid.Descending(options.Spacing, steps, training.Length, options.StepsOffset);
        if (options.Float32Timesteps)
        {
            // Euler and Euler a keep the spaced timesteps as float32 and interpolate at the rounded values.
            for (var i = 0; i < steps; i++)
            {
                spaced[i] = (float)spaced[i];
            }
        }

        double[] sigmas;
        if (options.LogLinear)
        {
            // diffusers: linspace(ln sigma_max, ln sigma_min, steps + 1).exp(), over the whole training range.
            var logs = TimestepGrid.Linspace(training.LogSigmas[^1], training.LogSigmas[0], steps + 1);
            sigmas = Array.ConvertAll(logs, Math.Exp);
        }
        else
        {
            sigmas = new double[steps];
            for (var i = 0; i < steps; i++)
            {
                sigmas[i] = training.SigmaAt(spaced[i]);
            }
        }

        var timesteps = spaced;
        if (options.Spread is SigmaSpread.Karras or SigmaSpread.Exponential)
        {
            var sigmaMin = options.SigmaMin ?? sigmas[^1];
            var sigmaMax = options.SigmaMax ?? sigmas[0];
            sigmas = options.Spread == SigmaSpread.Karras
                ? TrainingSchedule.KarrasSigmas(sigmaMin, sigmaMax, steps)
                : TrainingSchedule.ExponentialSigmas(sigmaMin, sigmaMax, steps);
            timesteps = new double[steps];
            for (var i = 0; i < steps; i++)
            {
                timesteps[i] = training.SigmaToTimestep(sigmas[i]);
            }
        }

        var all = new double[sigmas.Length + 1];
        sigmas.CopyTo(all, 0);
        all[^1] = options.FinalSigmaMin ? training.Sigmas[0] : 0.0;

        float[] unetTimesteps;
        if (options.ContinuousTimesteps)
        {
            // EDM-style models take 0.25 ln(sigma) as their timestep, one per sigma before the final one.
            unetTimesteps = new float[all.Length - 1];
            for (var i = 0; i < unetTimesteps.Length; i++)
            {
                unetTimesteps[i] = (float)(0.25 * Math.Log(all[i]));
            }
        }
        else
        {
            unetTimesteps = Array.ConvertAll(timesteps, t => (float)t);
        }

        var maxSigma = all.Max();

        // diffusers: for "leading" the first sigma is paired with the unit-variance latent, hence sqrt(max^2 + 1).
        var initNoiseSigma = options.Spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing
            ? maxSigma
            : Math.Sqrt((maxSigma * maxSigma) + 1);
        return new SigmaSchedule(unetTimesteps, all, (float)initNoiseSigma);
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
