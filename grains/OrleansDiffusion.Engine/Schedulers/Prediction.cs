namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The model output, whatever it predicts, turned into the predicted clean sample as a linear combination
/// <c>x0 = Sample * sample + Model * modelOutput</c>, so each scheduler's inner loop is two multiply-adds.
/// </summary>
internal static class Prediction
{
    /// <summary>Sigma space, where <c>sample = x0 + sigma * eps</c> (Euler, LMS).</summary>
    public static (double Sample, double Model) OriginalInSigmaSpace(PredictionType type, double sigma) => type switch
    {
        PredictionType.Epsilon => (1.0, -sigma),
        PredictionType.VPrediction => (1.0 / ((sigma * sigma) + 1), -sigma / Math.Sqrt((sigma * sigma) + 1)),
        PredictionType.Sample => (0.0, 1.0),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown prediction type."),
    };

    /// <summary>Variance-preserving space, where <c>sample = alpha * x0 + sigma * eps</c> with alpha^2 + sigma^2 = 1.</summary>
    public static (double Sample, double Model) OriginalInVpSpace(PredictionType type, double alpha, double sigma) => type switch
    {
        PredictionType.Epsilon => (1.0 / alpha, -sigma / alpha),
        PredictionType.VPrediction => (alpha, -sigma),
        PredictionType.Sample => (0.0, 1.0),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown prediction type."),
    };

    /// <summary>The predicted noise in variance-preserving space, <c>eps = Sample * sample + Model * modelOutput</c>.</summary>
    public static (double Sample, double Model) EpsilonInVpSpace(PredictionType type, double alpha, double sigma) => type switch
    {
        PredictionType.Epsilon => (0.0, 1.0),
        PredictionType.VPrediction => (sigma, alpha),
        PredictionType.Sample => (1.0 / sigma, -alpha / sigma),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown prediction type."),
    };
}
