namespace OrleansDiffusion.Contracts;

/// <summary>
/// One API key's inferences in progress and their cost in units (<see cref="QueueEntry.Cost"/>), cluster-wide (key: the
/// API key's name), so that a concurrency quota holds however many API processes accept work for the key. It is charged
/// by an inference's owner when it starts a new inference, never for a request that joins one or is answered from the
/// cache: those add no work.
/// </summary>
[Alias("od.IKeyQuotaGrain")]
public interface IKeyQuotaGrain : IGrainWithStringKey
{
    /// <summary>A quota no request reaches: for callers that apply none (tools, benchmarks).</summary>
    public const int Unlimited = int.MaxValue;

    /// <summary>
    /// Charges <paramref name="units"/> for the inference <paramref name="inferenceKey"/> (idempotent) unless that would
    /// take the key past <paramref name="maxUnits"/>. Finished inferences free their units by themselves.
    /// </summary>
    [Alias("TryCharge")]
    Task<QuotaAnswer> TryCharge(string inferenceKey, int units, int maxUnits);

    /// <summary>Frees the units of an inference that ended, or that was never queued.</summary>
    [Alias("Free")]
    Task Free(string inferenceKey);
}

[GenerateSerializer, Alias("od.QuotaDecision")]
public enum QuotaDecision
{
    Charged,

    /// <summary>The key's inferences in progress leave too few units: retry when one ends.</summary>
    Full,

    /// <summary>The request alone costs more than the whole quota: it can never run under it.</summary>
    OverQuota,
}

/// <summary>The decision, and the units the key had in progress when it was taken.</summary>
[GenerateSerializer, Immutable, Alias("od.QuotaAnswer")]
public sealed record QuotaAnswer(
    [property: Id(0)] QuotaDecision Decision,
    [property: Id(1)] long UnitsInProgress);
