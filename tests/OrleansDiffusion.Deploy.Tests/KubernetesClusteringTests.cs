using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using Orleans;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>What the silo manifests rely on in the host: Clustering=Kubernetes has a membership table.</summary>
public sealed class KubernetesClusteringTests
{
    [Fact]
    public void Kubernetes_clustering_registers_a_membership_table_and_kubernetes_hosting()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args =
            [
                "--Diffusion:Cluster:Clustering=Kubernetes",
                "--Diffusion:Cluster:ConnectionString=UseDevelopmentStorage=true",
            ],
        });
        builder.AddDiffusionSilo();
        Assert.Contains(builder.Services, d => d.ServiceType == typeof(IMembershipTable));
        Assert.Contains(builder.Services, d => d.ServiceType.Assembly.GetName().Name == "Orleans.Hosting.Kubernetes"
            || d.ImplementationType?.Assembly.GetName().Name == "Orleans.Hosting.Kubernetes");
    }

    [Fact]
    public void Kubernetes_clustering_without_a_connection_string_stops_at_start()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--Diffusion:Cluster:Clustering=Kubernetes"] });
        var error = Assert.Throws<OptionsValidationException>(() => builder.AddDiffusionSilo());
        Assert.Contains("ConnectionString", error.Message, StringComparison.Ordinal);
    }
}
