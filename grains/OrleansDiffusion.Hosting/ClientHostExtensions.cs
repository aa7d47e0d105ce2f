using System.Net;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Orleans.Configuration;
using Orleans.Dashboard;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Hosting;

public static class ClientHostExtensions
{
    /// <summary>
    /// Joins the cluster of <c>Diffusion:Cluster</c> as an Orleans client (through its gateways), with health checks
    /// and Prometheus metrics for this process.
    /// </summary>
    public static WebApplicationBuilder AddDiffusionClient(this WebApplicationBuilder builder)
    {
        var cluster = builder.Configuration.GetSection(ClusterHostingOptions.SectionName).Get<ClusterHostingOptions>() ?? new ClusterHostingOptions();
        builder.UseOrleansClient(client =>
        {
            client.Services.AddRuntimeExceptionSerialization();
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            switch (cluster.Clustering)
            {
                case ClusteringKind.AzureTable:
                case ClusteringKind.Kubernetes:
                    client.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(cluster.ConnectionString));
                    break;
                default:
                    client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, cluster.GatewayPort));
                    break;
            }

            // Off unless asked for: a gateway client is the process most likely to face the network. It reads what the
            // silos' dashboards collect, so they must have theirs on too.
            if (cluster.Dashboard == true)
            {
                client.AddDashboard();
            }
        });
        builder.Services.AddOptions<ClusterHostingOptions>().Bind(builder.Configuration.GetSection(ClusterHostingOptions.SectionName));
        builder.Services.AddHealthChecks()
            .AddCheck("live", () => HealthCheckResult.Healthy(), tags: ["live"])
            .AddCheck<ClusterReachableCheck>("ready", tags: ["ready"]);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.Orleans", "System.Runtime")
            .AddPrometheusExporter());
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c> of a client process, and the dashboard when
    /// <c>Diffusion:Cluster:Dashboard=true</c>, guarded by <paramref name="protectDashboard"/> (default: loopback only).
    /// </summary>
    public static WebApplication MapDiffusionClientEndpoints(this WebApplication app, Action<RouteGroupBuilder>? protectDashboard = null)
    {
        app.MapHealthChecks("/health/live", new() { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (app.Services.GetRequiredService<IOptions<ClusterHostingOptions>>().Value.Dashboard == true)
        {
            DashboardEndpoints.Map(app, protectDashboard);
        }

        return app;
    }

    /// <summary>Ready when a silo answers: the cluster can take work.</summary>
    private sealed class ClusterReachableCheck(IGrainFactory grains) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var models = await grains.GetGrain<IModelInfoGrain>(0).GetModels().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
                return HealthCheckResult.Healthy($"Cluster reachable; models {string.Join(", ", models.Select(m => m.Id))}.");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy("The cluster does not answer.", e);
            }
        }
    }
}
