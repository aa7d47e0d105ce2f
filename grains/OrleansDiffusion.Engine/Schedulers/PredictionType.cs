namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>What the UNet predicts; diffusers' <c>prediction_type</c>.</summary>
public enum PredictionType
{
    /// <summary><c>epsilon</c>: the noise that was added.</summary>
    Epsilon,

    /// <summary><c>v_prediction</c>: the velocity <c>sqrt(acp) * noise - sqrt(1 - acp) * x0</c> (SD 2.x 768).</summary>
    VPrediction,

    /// <summary><c>sample</c>: the clean sample itself.</summary>
    Sample,
}
