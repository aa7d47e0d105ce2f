using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

public sealed partial class JobEventRelay
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not forward the {Kind} event of job {JobId} to its subscribers")]
    private partial void LogForwardFailed(Guid jobId, InferenceEventKind kind, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew the subscription to the inference of job {JobId}; retrying at the next renewal")]
    private partial void LogRenewFailed(Guid jobId, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not unsubscribe from the inference of job {JobId}; its observer will expire")]
    private partial void LogUnsubscribeFailed(Guid jobId, Exception exception);
}
