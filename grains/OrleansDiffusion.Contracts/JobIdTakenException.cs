namespace OrleansDiffusion.Contracts;

/// <summary>
/// A job was submitted under an id that already names a job with another request: a client reused its idempotency key
/// (or its own job id) for a different body. Nothing changed.
/// </summary>
[GenerateSerializer, Alias("od.JobIdTakenException")]
public sealed class JobIdTakenException : Exception
{
    public JobIdTakenException()
    {
    }

    public JobIdTakenException(string message)
        : base(message)
    {
    }

    public JobIdTakenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
