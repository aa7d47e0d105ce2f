namespace OrleansDiffusion.Api.Hosting;

public static partial class ApiFaults
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "{Method} {Path} answered 503: {Exception} ({Cause})")]
        public static partial void Transient(ILogger logger, string method, string path, string exception, string cause);

        [LoggerMessage(2, LogLevel.Error, "{Method} {Path} failed with an unexpected exception")]
        public static partial void Unexpected(ILogger logger, Exception exception, string method, string path);
    }
}
