using Microsoft.Extensions.DependencyInjection;

namespace OrleansDiffusion.Api.Tests;

/// <summary>Counts activations in the cluster through the management grain.</summary>
public static class GrainActivations
{
    /// <summary>Activations of the grain class named <paramref name="grainClass"/> (e.g. <c>GenerationJobGrain</c>), cluster-wide.</summary>
    public static async Task<int> CountAsync(IServiceProvider services, string grainClass)
    {
        var statistics = await services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains(grainClass, StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }
}
