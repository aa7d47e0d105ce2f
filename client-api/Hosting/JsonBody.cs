using System.Text.Json;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// Reads a JSON request body by hand, for the compatibility endpoints that must answer malformed JSON in their own
/// error shape rather than with the ProblemDetails that parameter binding produces.
/// </summary>
public static class JsonBody
{
    /// <summary>The body as <typeparamref name="T"/>, or why it could not be read (with the status to answer).</summary>
    public static async Task<JsonBodyResult<T>> ReadAsync<T>(HttpRequest request, JsonSerializerOptions options, CancellationToken cancellationToken)
        where T : class
    {
        // A JSON endpoint takes JSON only: a "simple" cross-site request (text/plain, form) from any web page the user
        // visits would otherwise reach an API that trusts loopback callers without a CORS preflight.
        if (!request.HasJsonContentType())
        {
            return new(null, "The request body must be JSON, sent with Content-Type: application/json.", null, StatusCodes.Status415UnsupportedMediaType);
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, options, cancellationToken);
            return value is null
                ? new(null, "The request body must be a JSON object.", null, StatusCodes.Status400BadRequest)
                : new(value, null, null, StatusCodes.Status200OK);
        }
        catch (JsonException e)
        {
            // The path ("$.n") names the offending field; the message without it reads better to people.
            var field = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            var message = field is null
                ? "The request body is not valid JSON."
                : $"The field '{field}' has the wrong type or is not valid JSON.";
            return new(null, message, field, StatusCodes.Status400BadRequest);
        }
        catch (BadHttpRequestException e)
        {
            return new(null, e.Message, null, e.StatusCode);
        }
    }
}

/// <summary>A parsed body, or the error message, offending field and status code when it could not be parsed.</summary>
public sealed record JsonBodyResult<T>(T? Value, string? Error, string? Field, int StatusCode)
    where T : class;
