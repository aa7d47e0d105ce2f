using Microsoft.AspNetCore.Diagnostics;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// What an endpoint does not answer itself: an exception is classified once (<see cref="ApiFaults"/>) and written in the
/// error shape of the surface it came through, OpenAI's or AUTOMATIC1111's (their <see cref="IErrorShape"/> metadata),
/// else as ProblemDetails. A transient fault is 503 with Retry-After; an unexpected exception is still a 500, logged,
/// with no detail for the client.
/// </summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problemDetails) : IExceptionHandler
{
    private static readonly ApiFault Unexpected = new(
        StatusCodes.Status500InternalServerError, "An error occurred while processing your request.", "An unexpected error occurred.", "internal_error");

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        // A body that could not be read or bound keeps the status the framework gave it (ExceptionHandlerOptions).
        if (exception is BadHttpRequestException)
        {
            return false;
        }

        var fault = ApiFaults.Answer(exception, httpContext);
        if (fault is null)
        {
            if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
            {
                return false; // the client is gone: nothing to write
            }

            ApiFaults.LogUnexpected(exception, httpContext);
            fault = Unexpected;
        }

        // The middleware has cleared the endpoint by now; its feature remembers where the exception came from.
        var endpoint = httpContext.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? httpContext.GetEndpoint();
        httpContext.Response.StatusCode = fault.StatusCode;
        if (endpoint?.Metadata.GetMetadata<IErrorShape>() is { } shape)
        {
            await shape.WriteAsync(httpContext, fault.Message, fault.Code);
            return true;
        }

        return await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = { Status = fault.StatusCode, Title = fault.Title, Detail = ReferenceEquals(fault, Unexpected) ? null : fault.Message },
        });
    }
}
