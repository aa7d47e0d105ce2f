namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// How the API answers an exception, whatever the API surface: the HTTP status, a title, a message fit for clients (it
/// names no internals), a short machine-readable code and, for a condition that passes, the seconds a client should wait
/// before it retries. Each surface writes it in its own error shape.
/// </summary>
public sealed record ApiFault(int StatusCode, string Title, string Message, string Code, int? RetryAfterSeconds = null)
{
    /// <summary>A fault of the cluster or of storage that passes on its own: the request may simply be sent again.</summary>
    public bool IsTransient => StatusCode == StatusCodes.Status503ServiceUnavailable;
}
