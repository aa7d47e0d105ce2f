using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Orleans.Dashboard;

namespace OrleansDiffusion.Hosting;

/// <summary>
/// The Orleans dashboard at <see cref="Path"/>. It lists grain ids, reads grain state and streams the log, so it is never
/// served to the network without a guard: a host with API keys requires an admin key; a host without authentication
/// (the silo host) answers loopback connections only, which <c>kubectl port-forward</c> and SSH tunnels are.
/// </summary>
public static class DashboardEndpoints
{
    public const string Path = "/dashboard";

    /// <summary>Maps the dashboard and applies <paramref name="protect"/> (default: <see cref="LoopbackOnly"/>) to all of it.</summary>
    internal static void Map(IEndpointRouteBuilder app, Action<RouteGroupBuilder>? protect) =>
        (protect ?? LoopbackOnly)(app.MapOrleansDashboard(routePrefix: Path));

    /// <summary>
    /// Answers 404 to any connection that does not come from this machine. A request with no remote address did not
    /// come over TCP (a Unix socket, an in-process test server), so it is local too.
    /// </summary>
    public static void LoopbackOnly(RouteGroupBuilder dashboard) =>
        dashboard.AddEndpointFilter((context, next) =>
            IsLocal(context.HttpContext.Connection.RemoteIpAddress) ? next(context) : ValueTask.FromResult<object?>(Results.NotFound()));

    private static bool IsLocal(IPAddress? remote) =>
        remote is null || IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);
}
