using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Workers;

namespace OrleansDiffusion.Hosting;

/// <summary>
/// Ready when the silo can serve its models: the model folders were checked at start, the warm models are loaded,
/// and the silo is active and taking work (a stopping silo reports not ready).
/// </summary>
internal sealed class SiloReadinessCheck(IServiceProvider services, IOptions<DiffusionOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var catalog = services.GetRequiredService<ModelCatalog>();
        var pump = services.GetRequiredService<WorkerPump>();
        var slots = services.GetRequiredService<WorkerSlots>();
        if (slots.Capacity > 0 && !pump.Accepting)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The silo is not taking work (starting or stopping)."));
        }

        var host = services.GetRequiredService<ModelHost>();
        var missing = options.Value.WarmModels.Except(host.LoadedModels).ToList();
        if (missing.Count > 0)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Warm models not loaded yet: {string.Join(", ", missing)}."));
        }

        return Task.FromResult(HealthCheckResult.Healthy($"Serving {string.Join(", ", catalog.Models.Select(m => m.Id))}."));
    }
}
