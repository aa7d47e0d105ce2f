using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using Orleans.Configuration;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Hosting;

public static class SiloHostExtensions
{
    /// <summary>
    /// Configures the silo from <c>Diffusion:Cluster</c> (clustering, state storage), <c>Diffusion</c> (models,
    /// capacity, elasticity, batching) and <c>Diffusion:ImageStore</c>, with health checks and Prometheus metrics.
    /// Bad configuration stops the process at start with a message naming the key.
    /// </summary>
    public static WebApplicationBuilder AddDiffusionSilo(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var cluster = configuration.GetSection(ClusterHostingOptions.SectionName).Get<ClusterHostingOptions>() ?? new ClusterHostingOptions();
        Validate(cluster);
        builder.Services.AddOptions<ClusterHostingOptions>().Bind(configuration.GetSection(ClusterHostingOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            ConfigureClustering(silo, cluster);
            ConfigureState(silo, cluster);
            silo.AddDiffusion(configuration);
            if (cluster.Dashboard ?? true)
            {
                silo.AddDashboard();
            }
        });

        builder.Services.AddImageStore(configuration.GetSection(ImageStoreOptions.SectionName));
        builder.Services.AddHealthChecks()
            .AddCheck("live", () => HealthCheckResult.Healthy(), tags: ["live"])
            .AddCheck<SiloReadinessCheck>("ready", tags: ["ready"]);
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            // System.Runtime: .NET's own process metrics (GC heap sizes and collections, working set, thread pool).
            .AddMeter(DiffusionMetrics.MeterName, "Microsoft.Orleans", "System.Runtime")
            .AddPrometheusExporter());
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c>, <c>/health/ready</c>, <c>/metrics</c> and, unless <c>Diffusion:Cluster:Dashboard=false</c>,
    /// the dashboard, guarded by <paramref name="protectDashboard"/>: by default it answers loopback connections only,
    /// since the silo host has no authentication (see <see cref="DashboardEndpoints"/>).
    /// </summary>
    public static WebApplication MapDiffusionSiloEndpoints(this WebApplication app, Action<RouteGroupBuilder>? protectDashboard = null)
    {
        app.MapHealthChecks("/health/live", new() { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (app.Services.GetRequiredService<IOptions<ClusterHostingOptions>>().Value.Dashboard ?? true)
        {
            DashboardEndpoints.Map(app, protectDashboard);
        }

        return app;
    }

    private static void ConfigureClustering(ISiloBuilder silo, ClusterHostingOptions cluster)
    {
        switch (cluster.Clustering)
        {
            case ClusteringKind.Localhost:
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort));
                break;
            case ClusteringKind.AzureTable:
                silo.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(cluster.ConnectionString));
                silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort);
                break;
            case ClusteringKind.Kubernetes:
                // The Kubernetes hosting package is not a membership provider: it names the silo after its pod,
                // advertises the pod IP, takes ServiceId/ClusterId from ORLEANS_SERVICE_ID/ORLEANS_CLUSTER_ID and
                // marks silos whose pods are gone as dead. Membership stays in Azure Table storage, as the client's.
                silo.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(cluster.ConnectionString));
                silo.Configure<EndpointOptions>(o =>
                {
                    o.SiloPort = cluster.SiloPort;
                    o.GatewayPort = cluster.GatewayPort;
                });
                silo.UseKubernetesHosting();
                break;
        }
    }

    private static void ConfigureState(ISiloBuilder silo, ClusterHostingOptions cluster)
    {
        if (cluster.Storage == StateStorageKind.AzureStorage)
        {
            // Jobs in table rows; inference owners in blobs (their image lists can outgrow a row); queue entries and the
            // keys' job index one row each.
            // No reminders: the queue partitions' watchdogs find stalled work. A cleared record (a refused job, or one
            // the retention sweep removes) is deleted, not left behind as an empty row or blob.
            silo.AddAzureTableGrainStorage(StorageNames.Jobs, o =>
            {
                o.TableServiceClient = new TableServiceClient(cluster.ConnectionString);
                o.DeleteStateOnClear = true;
            });
            silo.AddAzureBlobGrainStorage(StorageNames.Cache, o =>
            {
                o.BlobServiceClient = new BlobServiceClient(cluster.ConnectionString);
                o.DeleteStateOnClear = true;
            });
            silo.AddDiffusionQueueTable(new TableServiceClient(cluster.ConnectionString));
            silo.AddDiffusionJobIndexTable(new TableServiceClient(cluster.ConnectionString));
            silo.AddDiffusionWebhookTable(new TableServiceClient(cluster.ConnectionString));
        }
        else
        {
            silo.AddMemoryGrainStorage(StorageNames.Jobs);
            silo.AddMemoryGrainStorage(StorageNames.Cache);
        }
    }

    private static void Validate(ClusterHostingOptions cluster)
    {
        var needsConnection = cluster.Clustering is ClusteringKind.AzureTable or ClusteringKind.Kubernetes || cluster.Storage == StateStorageKind.AzureStorage;
        if (needsConnection && string.IsNullOrWhiteSpace(cluster.ConnectionString))
        {
            throw new OptionsValidationException(
                ClusterHostingOptions.SectionName,
                typeof(ClusterHostingOptions),
                [$"{ClusterHostingOptions.SectionName}:ConnectionString is required with Clustering={cluster.Clustering} and Storage={cluster.Storage}."]);
        }
    }
}
