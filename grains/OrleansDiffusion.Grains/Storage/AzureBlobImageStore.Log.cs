using Microsoft.Extensions.Logging;

namespace OrleansDiffusion.Grains.Storage;

public sealed partial class AzureBlobImageStore
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Created blob container {Container} for images")]
        public static partial void ContainerCreated(ILogger logger, string container);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Image store unavailable: {Operation} of {Key} failed after retries")]
        public static partial void Unavailable(ILogger logger, string operation, string key, Exception exception);
    }
}
