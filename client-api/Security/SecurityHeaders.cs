namespace OrleansDiffusion.Api.Security;

/// <summary>
/// Headers that keep the web page from being framed, sniffed or made to run what it did not ship: a Content-Security-Policy
/// that allows the page's own scripts and styles only, its own origin for API calls and SignalR, images from itself, data
/// URLs (the live previews) and https (images redirected to blob storage), and no framing at all.
/// </summary>
public static class SecurityHeaders
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            return next(context);
        });
}
