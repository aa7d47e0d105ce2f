namespace OrleansDiffusion.Grains.Storage;

/// <summary>The image store could not be reached after retries: the operation may succeed later.</summary>
public sealed class ImageStoreUnavailableException(string message, Exception? innerException = null)
    : Exception(message, innerException);
