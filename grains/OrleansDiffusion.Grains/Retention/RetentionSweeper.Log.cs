using Microsoft.Extensions.Logging;

namespace OrleansDiffusion.Grains.Retention;

public sealed partial class RetentionSweeper
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Retention sweep: {Jobs} job records, {Results} results, {Images} images and {Inputs} init images deleted; {Kept} still in use; {Failed} left for the next sweep")]
        public static partial void Swept(ILogger logger, int jobs, int results, int images, int inputs, int kept, int failed);

        [LoggerMessage(2, LogLevel.Warning, "Retention sweep: handling {Mark} failed; it is handled again at the next sweep")]
        public static partial void MarkFailed(ILogger logger, Exception exception, string mark);
    }
}
