namespace OrleansDiffusion.Contracts;

/// <summary>
/// How many inference silos the cluster wants now, and what that number was computed from. An autoscaler (KEDA,
/// through the API's external scaler) sets the silo replica count to <see cref="DesiredSilos"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.ScaleSignal")]
public sealed record ScaleSignal(
    [property: Id(0)] int DesiredSilos,
    [property: Id(1)] int Pending,
    [property: Id(2)] int Running,
    [property: Id(3)] int WorkPerSilo,
    [property: Id(4)] double IdleSeconds,
    [property: Id(5)] int ActiveSilos)
{
    /// <summary>False once the cluster may shrink to nothing (KEDA's IsActive).</summary>
    public bool IsActive => DesiredSilos > 0;
}
