namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// The image store could not be reached after retries: the operation may succeed later. Serializable, so that a grain's
/// call that hit it (a job whose retention mark could not be written) reaches the API as this type, which answers 503.
/// </summary>
[GenerateSerializer, Alias("od.ImageStoreUnavailableException")]
public sealed class ImageStoreUnavailableException : Exception
{
    public ImageStoreUnavailableException()
    {
    }

    public ImageStoreUnavailableException(string message)
        : base(message)
    {
    }

    public ImageStoreUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
