namespace OrleansDiffusion.Contracts;

/// <summary>
/// The caller's API key has as much work in progress as its concurrency quota allows: the request was not accepted and
/// may be retried when some of that work ends (429).
/// </summary>
[GenerateSerializer, Alias("od.QuotaExceededException")]
public sealed class QuotaExceededException : Exception
{
    public QuotaExceededException()
    {
    }

    public QuotaExceededException(string message)
        : base(message)
    {
    }

    public QuotaExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
