using Microsoft.Extensions.DependencyInjection.Extensions;

namespace OrleansDiffusion.Api.Live;

public static class LiveExtensions
{
    /// <summary>SignalR and the relay that feeds it from the job grains.</summary>
    public static IServiceCollection AddGenerationHub(this IServiceCollection services)
    {
        services.AddSignalR();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<JobEventRelay>();
        return services;
    }

    /// <summary>Maps <see cref="GenerationHub"/> at <see cref="GenerationHub.Path"/>, with the API's authentication.</summary>
    public static IEndpointRouteBuilder MapGenerationHub(this IEndpointRouteBuilder app)
    {
        app.MapHub<GenerationHub>(GenerationHub.Path).RequireAuthorization();
        return app;
    }
}
