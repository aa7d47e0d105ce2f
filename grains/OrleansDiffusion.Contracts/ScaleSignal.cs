namespace OrleansDiffusion.Contracts;

/// <summary>
/// How many inference silos the cluster wants now, and what that number was computed from: the queued and running work
/// in units (<see cref="QueueEntry.Cost"/>) against <see cref="WorkPerSilo"/> units per silo; the request counts are
/// informational. An autoscaler (KEDA, through the API's external scaler) sets the silo replica count to
/// <see cref="DesiredSilos"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.ScaleSignal")]
public sealed record ScaleSignal(
    [property: Id(0)] int DesiredSilos,
    [property: Id(1)] int Pending,
    [property: Id(2)] int Running,
    [property: Id(3)] int WorkPerSilo,
    [property: Id(4)] double IdleSeconds,
    [property: Id(5)] int ActiveSilos,
    [property: Id(6)] long PendingUnits,
    [property: Id(7)] long RunningUnits)
{
    /// <summary>False once the cluster may shrink to nothing (KEDA's IsActive).</summary>
    public bool IsActive => DesiredSilos > 0;
}
