using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace OrleansDiffusion.Api.Live;

public static class LiveExtensions
{
    /// <summary>The SignalR dispatcher's category: it logs each failed hub call, client errors included, with a stack trace.</summary>
    public const string HubDispatcherCategory = "Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher";

    /// <summary>
    /// SignalR, with hub calls under the per-key rate limit and failures logged by <see cref="HubErrorFilter"/> rather
    /// than by the dispatcher, and the relay that feeds it from the job grains.
    /// </summary>
    public static IServiceCollection AddGenerationHub(this IServiceCollection services)
    {
        services.AddSignalR(hubs =>
        {
            hubs.AddFilter<HubErrorFilter>();
            hubs.AddFilter<HubRateLimitFilter>();
        });
        services.AddLogging(logging => logging.AddFilter(HubDispatcherCategory, LogLevel.None));
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
