namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// Endpoint metadata for a compatibility surface whose clients expect errors in a foreign shape (OpenAI's
/// <c>{"error": {...}}</c>, AUTOMATIC1111's <c>{"error", "detail", ...}</c>). Middleware that answers before the
/// endpoint runs (the authentication challenge, the rate limiter) writes its 401 or 429 through it instead of an empty
/// body that would become a ProblemDetails.
/// </summary>
public interface IErrorShape
{
    /// <summary>Writes the body of an error answer; the status code and any headers are already set.</summary>
    /// <param name="code">A short machine-readable reason: <c>invalid_api_key</c>, <c>rate_limit_exceeded</c>.</param>
    Task WriteAsync(HttpContext http, string message, string code);
}
