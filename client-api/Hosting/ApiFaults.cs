using System.Net.Sockets;
using Azure;
using Orleans.Runtime.Messaging;
using Orleans.Storage;
using Polly.Timeout;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// The one classification of what a request can throw, shared by the native, OpenAI and AUTOMATIC1111 surfaces and by
/// the exception handler behind them: the client's own mistakes are 4xx; a silo that died or is not yet replaced, a
/// call the cluster did not answer in time, storage that is away or throttling, are transient (503 with Retry-After,
/// never 500); a concurrent change of the same state is a conflict (409). Anything else is unexpected: a 500, logged.
/// </summary>
public static partial class ApiFaults
{
    /// <summary>What a client should wait before it retries a transient fault: about how long a dead silo or a storage blip takes to pass.</summary>
    public const int TransientRetryAfterSeconds = 5;

    private const string LoggerName = "OrleansDiffusion.Api.Faults";

    private static readonly ApiFault Transient = new(
        StatusCodes.Status503ServiceUnavailable,
        "Service temporarily unavailable",
        "The service is temporarily unavailable (part of the cluster or its storage is not answering); retry after the Retry-After delay.",
        "service_unavailable",
        TransientRetryAfterSeconds);

    /// <summary>The answer for <paramref name="exception"/>; null when it is unexpected (a 500).</summary>
    public static ApiFault? Classify(Exception exception) => exception switch
    {
        JobIdTakenException => new(StatusCodes.Status422UnprocessableEntity, "Idempotency key reused", "This idempotency key (or job id) already names a job with another request; send the same body again, or use a new key.", "idempotency_key_reused"),
        ArgumentException => new(StatusCodes.Status400BadRequest, "Invalid request", exception.Message, "invalid_value"),
        InvalidImageException image => new(
            image.Reason == InvalidImageReason.TooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest,
            "Invalid init image",
            image.Message,
            "invalid_image"),
        InvalidMaskException mask => new(mask.StatusCode, "Invalid mask", mask.Message, "invalid_image"),
        RequestOverQuotaException => new(StatusCodes.Status400BadRequest, "Request over the key's quota", exception.Message, "over_quota"),
        QuotaExceededException => new(StatusCodes.Status429TooManyRequests, "Too much work in progress", exception.Message, "too_many_jobs", 5),
        QueueFullException => new(StatusCodes.Status503ServiceUnavailable, "Queue full", exception.Message, "queue_full", 10),
        ImageStoreUnavailableException => new(StatusCodes.Status503ServiceUnavailable, "Storage unavailable", exception.Message, "storage_unavailable", 10),
        _ when Any(exception, e => e is InconsistentStateException) => new(
            StatusCodes.Status409Conflict,
            "Conflict",
            "The job was changed by another request at the same time; read it again.",
            "conflict"),
        _ when IsTransient(exception) => Transient,
        _ => null,
    };

    /// <summary>
    /// Whether the exception, or one it wraps (Orleans and the Azure SDK wrap the cause in an
    /// <see cref="AggregateException"/>, an <see cref="OrleansException"/> or an inner exception), is a fault that passes.
    /// </summary>
    public static bool IsTransient(Exception exception) => Any(exception, e => e switch
    {
        // A grain call not answered in time: ours (ClusterCallTimeoutException) or Orleans' response timeout, or one of
        // the runtime's own calls timed out by its resilience pipeline (Polly) while a silo does not answer.
        TimeoutException or TimeoutRejectedException => true,

        // A silo that died, is stopping or is overloaded; a connection to it that failed.
        OrleansMessageRejectionException or GatewayTooBusyException or ConnectionFailedException => true,

        // Storage: the network, a time-out, throttling or the service's own failure; not a 4xx of the request itself.
        RequestFailedException storage => storage.Status is 0 or 408 or 429 or >= 500,
        HttpRequestException or SocketException => true,
        ImageStoreUnavailableException => true,

        // A time-out inside a client library (the request's own abort is told apart by the caller).
        OperationCanceledException => true,
        _ => false,
    });

    /// <summary>
    /// Classifies an exception for a request, sets Retry-After and logs a transient fault; null when the exception is
    /// unexpected, or is the request's own abort (nobody waits for an answer then).
    /// </summary>
    public static ApiFault? Answer(Exception exception, HttpContext http)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested)
        {
            return null;
        }

        if (Classify(exception) is not { } fault)
        {
            return null;
        }

        if (fault.RetryAfterSeconds is { } seconds)
        {
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (ReferenceEquals(fault, Transient))
        {
            Log.Transient(Logger(http), http.Request.Method, http.Request.Path.Value ?? string.Empty, exception.GetType().Name, Innermost(exception).Message);
        }

        return fault;
    }

    /// <summary>Logs an exception no classification knows: it becomes a 500.</summary>
    public static void LogUnexpected(Exception exception, HttpContext http) =>
        Log.Unexpected(Logger(http), exception, http.Request.Method, http.Request.Path.Value ?? string.Empty);

    private static ILogger Logger(HttpContext http) => http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerName);

    private static bool Any(Exception exception, Func<Exception, bool> predicate)
    {
        // Depth-bounded: exception graphs are shallow, and a cycle must not hang a request.
        var pending = new Stack<(Exception Exception, int Depth)>([(exception, 0)]);
        while (pending.TryPop(out var item))
        {
            if (predicate(item.Exception))
            {
                return true;
            }

            if (item.Depth >= 8)
            {
                continue;
            }

            if (item.Exception is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push((inner, item.Depth + 1));
                }
            }
            else if (item.Exception.InnerException is { } inner)
            {
                pending.Push((inner, item.Depth + 1));
            }
        }

        return false;
    }

    private static Exception Innermost(Exception exception)
    {
        var current = exception;
        for (var depth = 0; current.InnerException is { } inner && depth < 8; depth++)
        {
            current = inner;
        }

        return current;
    }
}
