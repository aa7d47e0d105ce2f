namespace OrleansDiffusion.Engine.Imaging;

/// <summary>An input image that cannot or must not be decoded. The message is safe to show to the caller.</summary>
public sealed class InvalidImageException : Exception
{
    public InvalidImageException()
        : this(InvalidImageReason.Corrupt, "The image is invalid.")
    {
    }

    public InvalidImageException(string message)
        : this(InvalidImageReason.Corrupt, message)
    {
    }

    public InvalidImageException(string message, Exception innerException)
        : this(InvalidImageReason.Corrupt, message, innerException)
    {
    }

    public InvalidImageException(InvalidImageReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public InvalidImageReason Reason { get; }
}
