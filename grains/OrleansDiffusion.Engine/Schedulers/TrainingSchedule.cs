namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The per-training-timestep tables every scheduler starts from: cumulative alpha products and the
/// equivalent sigmas <c>sqrt((1 - acp) / acp)</c>. Computed in double precision once per scheduler.
/// </summary>
internal sealed class TrainingSchedule
{
    /// <param name="config">The model's schedule.</param>
    /// <param name="defaults">The reading class's defaults for the beta keys the config leaves out.</param>
    /// <param name="rescaleZeroSnr">
    /// Whether to apply <c>rescale_betas_zero_snr</c>: only the classes whose <c>__init__</c> takes the key do
    /// (PNDM and LMS ignore it, and must: their updates divide by the terminal signal).
    /// </param>
    /// <param name="finiteTerminalSigma">
    /// Sigma-space schedulers need a finite sigma at the last timestep; with zero-terminal-SNR rescaling diffusers
    /// sets its cumulative alpha to 2^-24 for them, and so do we.
    /// </param>
    public TrainingSchedule(SchedulerConfig config, BetaDefaults defaults, bool rescaleZeroSnr, bool finiteTerminalSigma)
    {
        var n = config.NumTrainTimesteps;
        var betas = Betas(config, defaults);
        if (rescaleZeroSnr)
        {
            RescaleZeroTerminalSnr(betas);
        }

        AlphasCumprod = new double[n];
        var product = 1.0;
        for (var i = 0; i < n; i++)
        {
            product *= 1.0 - betas[i];
            AlphasCumprod[i] = product;
        }

        if (rescaleZeroSnr && finiteTerminalSigma)
        {
            AlphasCumprod[n - 1] = Math.Pow(2, -24);
        }

        Sigmas = new double[n];
        LogSigmas = new double[n];
        for (var i = 0; i < n; i++)
        {
            Sigmas[i] = Math.Sqrt((1.0 - AlphasCumprod[i]) / AlphasCumprod[i]);
            LogSigmas[i] = Math.Log(Sigmas[i]);
        }
    }

    public int Length => AlphasCumprod.Length;

    /// <summary>alpha-bar: the signal fraction left at each training timestep.</summary>
    public double[] AlphasCumprod { get; }

    /// <summary>The variance-exploding sigma at each training timestep; increasing with the timestep.</summary>
    public double[] Sigmas { get; }

    public double[] LogSigmas { get; }

    /// <summary>Sigma at a fractional timestep, linearly interpolated (numpy <c>interp</c>, clamped at the ends).</summary>
    public double SigmaAt(double timestep) => Interpolate(Sigmas, timestep);

    /// <summary>
    /// The fractional timestep whose sigma is <paramref name="sigma"/>, interpolating linearly in log sigma between
    /// the two neighbouring training timesteps (diffusers <c>_sigma_to_t</c>); clamped to [0, last].
    /// </summary>
    public double SigmaToTimestep(double sigma)
    {
        var logSigma = Math.Log(Math.Max(sigma, 1e-10));

        // The last index whose log sigma does not exceed the target, kept below the end so that high = low + 1 exists.
        var low = 0;
        for (var i = 0; i < LogSigmas.Length; i++)
        {
            if (logSigma - LogSigmas[i] >= 0)
            {
                low = i;
            }
        }

        low = Math.Min(low, LogSigmas.Length - 2);
        var high = low + 1;
        var w = (LogSigmas[low] - logSigma) / (LogSigmas[low] - LogSigmas[high]);
        w = Math.Clamp(w, 0.0, 1.0);
        return ((1 - w) * low) + (w * high);
    }

    /// <summary>Karras et al. (2022) sigmas: evenly spaced in sigma^(1/rho), rho = 7, from max down to min.</summary>
    public static double[] KarrasSigmas(double sigmaMin, double sigmaMax, int count)
    {
        const double Rho = 7.0;
        var minInvRho = Math.Pow(sigmaMin, 1 / Rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / Rho);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++)
        {
            var ramp = count == 1 ? 0.0 : (double)i / (count - 1);
            sigmas[i] = Math.Pow(maxInvRho + (ramp * (minInvRho - maxInvRho)), Rho);
        }

        return sigmas;
    }

    private static double Interpolate(double[] table, double x)
    {
        if (x <= 0)
        {
            return table[0];
        }

        if (x >= table.Length - 1)
        {
            return table[^1];
        }

        var low = (int)Math.Floor(x);
        var fraction = x - low;
        return table[low] + (fraction * (table[low + 1] - table[low]));
    }

    /// <summary>Sigmas evenly spaced in log sigma, from max down to min (diffusers' exponential sigmas).</summary>
    public static double[] ExponentialSigmas(double sigmaMin, double sigmaMax, int count)
    {
        var logs = TimestepGrid.Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), count);
        var sigmas = new double[count];
        for (var i = 0; i < count; i++)
        {
            sigmas[i] = Math.Exp(logs[i]);
        }

        return sigmas;
    }

    private static double[] Betas(SchedulerConfig config, BetaDefaults defaults)
    {
        var n = config.NumTrainTimesteps;
        if (config.TrainedBetas is { } trained)
        {
            return [.. trained];
        }

        var start = config.BetaStart ?? defaults.Start;
        var end = config.BetaEnd ?? defaults.End;
        switch (config.BetaSchedule ?? defaults.Schedule)
        {
            case BetaSchedule.Linear:
                return TimestepGrid.Linspace(start, end, n);
            case BetaSchedule.ScaledLinear:
                var roots = TimestepGrid.Linspace(Math.Sqrt(start), Math.Sqrt(end), n);
                for (var i = 0; i < n; i++)
                {
                    roots[i] *= roots[i];
                }

                return roots;
            case BetaSchedule.SquaredCosCapV2:
                var betas = new double[n];
                for (var i = 0; i < n; i++)
                {
                    betas[i] = Math.Min(1 - (CosineAlphaBar((i + 1.0) / n) / CosineAlphaBar((double)i / n)), 0.999);
                }

                return betas;
            default:
                throw new ArgumentOutOfRangeException(nameof(config), config.BetaSchedule, "Unknown beta schedule.");
        }
    }

    private static double CosineAlphaBar(double t)
    {
        var c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /// <summary>Lin et al. (2023), algorithm 1: shift and scale sqrt(acp) so the last timestep has zero signal.</summary>
    private static void RescaleZeroTerminalSnr(double[] betas)
    {
        var n = betas.Length;
        var root = new double[n];
        var product = 1.0;
        for (var i = 0; i < n; i++)
        {
            product *= 1.0 - betas[i];
            root[i] = Math.Sqrt(product);
        }

        var first = root[0];
        var last = root[n - 1];
        for (var i = 0; i < n; i++)
        {
            root[i] = (root[i] - last) * first / (first - last);
        }

        var previous = 1.0;
        for (var i = 0; i < n; i++)
        {
            var alphaBar = root[i] * root[i];
            betas[i] = 1.0 - (alphaBar / previous);
            previous = alphaBar;
        }
    }
}
