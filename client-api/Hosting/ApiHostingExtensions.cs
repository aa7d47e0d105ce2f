using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OrleansDiffusion.Api.Automatic1111;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Imaging;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Api.Security;
using OrleansDiffusion.Grains.Jobs;
using OrleansDiffusion.Grains.Storage;
using OrleansDiffusion.Grains.Webhooks;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Api.Hosting;

public static class ApiHostingExtensions
{
    /// <summary>The rate limit of requests that create work (<see cref="ApiOptions.RequestsPerMinute"/>).</summary>
    public const string PerKeyPolicy = "per-key";

    /// <summary>The host-filtering setting ASP.NET Core reads (host names separated by ';').</summary>
    public const string AllowedHostsKey = "AllowedHosts";

    /// <summary>The rate limit of every other request (<see cref="ApiOptions.ReadsPerMinute"/>): polling never spends the submit budget.</summary>
    public const string PerKeyReadPolicy = "per-key-reads";

    /// <summary>
    /// The API's services: the cluster (a co-hosted silo, or an Orleans client) with a time limit on the grain calls
    /// of a request, API keys, per-key rate limits, body limits, faults answered as faults (ProblemDetails or the
    /// surface's own error shape) and snake_case JSON.
    /// </summary>
    public static WebApplicationBuilder AddDiffusionApi(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(ApiOptions.SectionName).Get<ApiOptions>() ?? new ApiOptions();
        builder.Services.AddOptions<ApiOptions>().Bind(builder.Configuration.GetSection(ApiOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        if (options.Mode == ApiMode.CoHosted)
        {
            builder.AddDiffusionSilo();
        }
        else
        {
            builder.AddDiffusionClient();
            builder.Services.AddImageStore(builder.Configuration.GetSection(ImageStoreOptions.SectionName));
        }

        builder.Services.AddHostedService<AnonymousAccessGuard>();
        if (options.Keys.Count == 0 && string.IsNullOrWhiteSpace(builder.Configuration[AllowedHostsKey]))
        {
            // Anonymous mode trusts whoever reaches it on loopback; a web page the user visits can reach loopback too,
            // under a name of its own that resolves to 127.0.0.1 (DNS rebinding). Only loopback names are answered,
            // unless the operator configured AllowedHosts.
            builder.Services.Configure<HostFilteringOptions>(hosts => hosts.AllowedHosts = [.. AnonymousAccessGuard.LoopbackHosts]);
        }

        builder.Services.AddSingleton<JobIds>();
        builder.Services.AddSingleton<KeyRateLimiter>();
        builder.Services.AddSingleton<GenerationService>();
        builder.Services.AddSingleton<ImageTranscoder>();
        builder.Services.AddOptions<WebhookOptions>().Bind(builder.Configuration.GetSection(WebhookOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<WebhookRequests>();
        builder.Services.AddSingleton<Automatic1111State>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddGenerationHub();
        builder.Services.ConfigureHttpJsonOptions(json => NativeJson.Configure(json.SerializerOptions));
        builder.Services.AddSingleton<IOutgoingGrainCallFilter, ClusterCallTimeout>();
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        // Binding failures throw in Development (RouteHandlerOptions.ThrowOnBadRequest); they are the client's 4xx, not a 500.
        builder.Services.Configure<ExceptionHandlerOptions>(handler =>
            handler.StatusCodeSelector = e => e is Microsoft.AspNetCore.Http.BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError);
        builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (context, _) =>
            {
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                {
                    context.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                if (context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<IErrorShape>() is { } shape)
                {
                    await shape.WriteAsync(context.HttpContext, "Rate limit reached for this API key; retry after the Retry-After delay.", "rate_limit_exceeded");
                }
            };
            limiter.AddPolicy(PerKeyPolicy, context => PerKey(context, o => o.RequestsPerMinute));

            // The key's read bucket is shared with the hub's calls (KeyRateLimiter), not one the middleware owns.
            limiter.AddPolicy(PerKeyReadPolicy, context => RateLimitPartition.Get(
                context.User.Identity?.Name ?? ApiKeyAuthenticationHandler.Anonymous,
                key => context.RequestServices.GetRequiredService<KeyRateLimiter>().For(key)));
        });
        return builder;
    }

    /// <summary>
    /// Middleware in order, and the health/metrics endpoints and the dashboard. Without keys the host refuses to start
    /// open to the network (<see cref="AnonymousAccessGuard"/>).
    /// </summary>
    public static WebApplication UseDiffusionApi(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<ApiOptions>>().Value;
        app.Use(ClusterCallTimeout.MarkRequestAsync);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        // The dashboard reads grain state and streams the log: with keys, admin keys only; without, the host is
        // loopback-only anyway and the dashboard answers loopback connections only.
        Action<RouteGroupBuilder>? protectDashboard = options.Keys.Count > 0
            ? dashboard => dashboard.RequireAuthorization(policy => policy.RequireRole(ApiKeyAuthenticationHandler.AdminRole))
            : null;
        if (options.Mode == ApiMode.CoHosted)
        {
            app.MapDiffusionSiloEndpoints(protectDashboard);
        }
        else
        {
            app.MapDiffusionClientEndpoints(protectDashboard);
        }

        return app;
    }

    /// <summary>One token bucket per API key (per policy), refilled every minute.</summary>
    private static RateLimitPartition<string> PerKey(HttpContext context, Func<ApiOptions, int> perMinuteOf)
    {
        var perMinute = perMinuteOf(context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value);
        return RateLimitPartition.GetTokenBucketLimiter(
            context.User.Identity?.Name ?? ApiKeyAuthenticationHandler.Anonymous,
            _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute,
                TokensPerPeriod = perMinute,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
    }
}
