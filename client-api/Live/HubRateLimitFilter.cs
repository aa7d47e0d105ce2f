using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// Hub method calls count against the caller's key's read budget, as HTTP reads do (<see cref="KeyRateLimiter"/>):
/// one open connection must not be a way around the limit. A call over the budget fails with a
/// <see cref="HubException"/> that says so and when to retry; the connection stays open and usable.
/// </summary>
public sealed class HubRateLimitFilter(KeyRateLimiter limiter) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        using (var lease = limiter.Acquire(GenerationEndpoints.ApiKeyOf(invocationContext.Context.User ?? new())))
        {
            if (!lease.IsAcquired)
            {
                var retry = lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
                    ? string.Create(CultureInfo.InvariantCulture, $" in {Math.Ceiling(after.TotalSeconds)} s")
                    : " later";
                throw new HubException($"Rate limit reached for this API key; retry{retry}.");
            }
        }

        return await next(invocationContext);
    }
}
