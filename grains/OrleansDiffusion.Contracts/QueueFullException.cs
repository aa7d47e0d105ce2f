namespace OrleansDiffusion.Contracts;

/// <summary>The work queue is at its bound: the request was not accepted and may be retried later.</summary>
[GenerateSerializer, Alias("od.QueueFullException")]
public sealed class QueueFullException : Exception
{
    public QueueFullException()
    {
    }

    public QueueFullException(string message)
        : base(message)
    {
    }

    public QueueFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
