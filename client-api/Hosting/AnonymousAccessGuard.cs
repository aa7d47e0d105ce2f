using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// Without API keys every caller is trusted as this machine's own user, so the API must not be reachable from anywhere
/// else. Kestrel can be pointed at an address in many ways (<c>urls</c>, <c>Kestrel:Endpoints</c>, <c>HTTP_PORTS</c> and
/// <c>ASPNETCORE_HTTP_PORTS</c>, code), so rather than second-guess the configuration this looks at the addresses the
/// server actually bound, once it has started. When one of them is not loopback it logs why, stops the server at once
/// and then the host (the silo leaves its cluster cleanly), and the process exits with status 1.
/// </summary>
public sealed partial class AnonymousAccessGuard(
    IServer server,
    IHostApplicationLifetime lifetime,
    IOptions<ApiOptions> options,
    ILogger<AnonymousAccessGuard> logger) : IHostedLifecycleService
{
    /// <summary>The host names anonymous mode answers to (<c>AllowedHosts</c>), against DNS rebinding.</summary>
    public static readonly IReadOnlyList<string> LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Keys.Count > 0)
        {
            return;
        }

        var open = (server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []).Where(a => !IsLoopback(a)).ToList();
        if (open.Count == 0)
        {
            return;
        }

        LogRefusingAnonymousAccess(string.Join(", ", open));
        await server.StopAsync(cancellationToken);
        Environment.ExitCode = 1;
        lifetime.StopApplication();
    }

    /// <summary>
    /// Whether a bound address (as Kestrel reports it) is reachable from this machine only: localhost, a loopback IP, a
    /// Unix socket or a named pipe. Wildcards (<c>[::]</c>, <c>0.0.0.0</c>, <c>*</c>, <c>+</c>) and host names are not.
    /// </summary>
    public static bool IsLoopback(string address)
    {
        var schemeEnd = address.IndexOf("://", StringComparison.Ordinal);
        var authority = schemeEnd < 0 ? address : address[(schemeEnd + 3)..];
        if (authority.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) || authority.StartsWith("pipe:", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.IsLoopback;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
