namespace OrleansDiffusion.Contracts;

/// <summary>
/// The request alone costs more units than the caller's whole concurrency quota: it would never be accepted, so it is
/// refused as a bad request (400) rather than one to retry.
/// </summary>
[GenerateSerializer, Alias("od.RequestOverQuotaException")]
public sealed class RequestOverQuotaException : Exception
{
    public RequestOverQuotaException()
    {
    }

    public RequestOverQuotaException(string message)
        : base(message)
    {
    }

    public RequestOverQuotaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
