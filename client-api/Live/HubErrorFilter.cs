using Microsoft.AspNetCore.SignalR;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// What a failed hub call logs. SignalR logs every exception a hub method throws as an error with its stack trace,
/// the <see cref="HubException"/>s that answer a client's own mistake (an unknown job id, a spent rate limit) included,
/// so any client could fill the log at will; <see cref="LiveExtensions.AddGenerationHub"/> turns that log off. Here a
/// <see cref="HubException"/> goes to the caller unlogged, and anything else, which is the server's fault, is logged
/// once with its stack trace and reaches the caller as a <see cref="HubException"/> that says to retry.
/// </summary>
public sealed partial class HubErrorFilter(ILogger<HubErrorFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (Exception e) when (e is not HubException and not OperationCanceledException)
        {
            LogHubMethodFailed(invocationContext.HubMethodName, e);
            throw new HubException($"'{invocationContext.HubMethodName}' failed on the server; retry in a few seconds.");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Hub method {HubMethod} failed")]
    private partial void LogHubMethodFailed(string hubMethod, Exception exception);
}
