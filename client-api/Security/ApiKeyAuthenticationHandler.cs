using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.RunPod;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Api.Security;

/// <summary>
/// API keys as <c>Authorization: Bearer &lt;key&gt;</c>, or HTTP Basic with the key as the password (what
/// AUTOMATIC1111 clients send), or, under the RunPod prefix, the bare key (<c>Authorization: &lt;key&gt;</c>, as RunPod's
/// own examples send it). Keys are compared by their SHA-256, in constant time. With no key configured every
/// request is the <c>anonymous</c> caller (the host only allows that on loopback).
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<ApiOptions> api,
    IOptions<RunPodOptions> runPod) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Anonymous = "anonymous";

    /// <summary>The role of keys configured with <c>Admin=true</c>.</summary>
    public const string AdminRole = "admin";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var keys = api.Value.Keys;
        if (keys.Count == 0)
        {
            return Task.FromResult(Success(Anonymous));
        }

        var key = ReadKey(Request.Headers.Authorization.ToString()) ?? ReadHubToken() ?? ReadBareRunPodKey();
        if (key is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        foreach (var entry in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, Convert.FromHexString(entry.Sha256)))
            {
                return Task.FromResult(Success(entry.Name, entry.Admin));
            }
        }

        return Task.FromResult(AuthenticateResult.Fail("Unknown API key."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        if (Request.Path.StartsWithSegments("/sdapi"))
        {
            Response.Headers.WWWAuthenticate = "Basic realm=\"OrleansDiffusion\"";
        }
        else if (Request.Path.StartsWithSegments(DashboardEndpoints.Path))
        {
            // A browser cannot add a bearer header to the dashboard's own requests; a Basic challenge makes it ask
            // for the admin key (as the password) once and send it with every request under the dashboard.
            Response.Headers.WWWAuthenticate = "Basic realm=\"OrleansDiffusion dashboard\", charset=\"UTF-8\"";
        }
        else
        {
            Response.Headers.WWWAuthenticate = "Bearer";
        }

        if (Context.GetEndpoint()?.Metadata.GetMetadata<IErrorShape>() is { } shape)
        {
            var message = Request.Headers.Authorization.Count == 0
                ? "No API key was provided: send Authorization: Bearer <key> (or HTTP Basic with the key as the password)."
                : "Incorrect API key provided.";
            await shape.WriteAsync(Context, message, "invalid_api_key");
        }
    }

    /// <summary>The SHA-256 hex of a key, as <c>Diffusion:Api:Keys:N:Sha256</c> expects it.</summary>
    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Browsers cannot set headers on WebSockets and server-sent events: SignalR sends the key as a query parameter.</summary>
    private string? ReadHubToken() =>
        Request.Path.StartsWithSegments(Live.GenerationHub.Path) && Request.Query["access_token"].ToString() is { Length: > 0 } token ? token : null;

    /// <summary>RunPod's API takes the key itself as the Authorization header; only its clients send one without a scheme.</summary>
    private string? ReadBareRunPodKey() =>
        Request.Path.StartsWithSegments(runPod.Value.Prefix) && Request.Headers.Authorization.ToString().Trim() is { Length: > 0 } header && !header.Contains(' ', StringComparison.Ordinal)
            ? header
            : null;

    private static string? ReadKey(string header)
    {
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim() is { Length: > 0 } bearer ? bearer : null;
        }

        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                return colon >= 0 && colon < decoded.Length - 1 ? decoded[(colon + 1)..] : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        return null;
    }

    private static AuthenticateResult Success(string name, bool admin = false) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity(
                admin ? [new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, AdminRole)] : [new Claim(ClaimTypes.Name, name)],
                SchemeName)),
            SchemeName));
}
