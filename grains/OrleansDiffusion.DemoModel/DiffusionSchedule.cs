namespace OrleansDiffusion.DemoModel;

/// <summary>The SD 1.x training schedule the demo UNet is built for: scaled_linear betas 0.00085 to 0.012 over 1000 steps.</summary>
internal static class DiffusionSchedule
{
    public const int TrainTimesteps = 1000;
    public const double BetaStart = 0.00085;
    public const double BetaEnd = 0.012;

    /// <summary>alphas_cumprod[t] for t = 0..999.</summary>
    public static double[] AlphasCumprod()
    {
        var result = new double[TrainTimesteps];
        double start = Math.Sqrt(BetaStart), end = Math.Sqrt(BetaEnd), product = 1.0;
        for (var t = 0; t < TrainTimesteps; t++)
        {
            var root = start + ((end - start) * t / (TrainTimesteps - 1));
            product *= 1.0 - (root * root);
            result[t] = product;
        }

        return result;
    }
}
