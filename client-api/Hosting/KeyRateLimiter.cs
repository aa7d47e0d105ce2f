using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// The per-key read budget of this API process (<c>Diffusion:Api:ReadsPerMinute</c>): one token bucket per API key name,
/// refilled every minute. HTTP reads (the <see cref="ApiHostingExtensions.PerKeyReadPolicy"/> policy) and hub method
/// calls (subscribing is reading) draw from the same bucket, so a key cannot double its rate by moving to the hub.
/// </summary>
public sealed class KeyRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _buckets;

    public KeyRateLimiter(IOptions<ApiOptions> options)
    {
        var perMinute = options.Value.ReadsPerMinute;
        _buckets = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(
            key,
            _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute,
                TokensPerPeriod = perMinute,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
    }

    /// <summary>Takes one request from the key's bucket; the lease says whether there was one, and when to retry.</summary>
    public RateLimitLease Acquire(string apiKey) => _buckets.AttemptAcquire(apiKey);

    /// <summary>
    /// The key's bucket as a <see cref="RateLimiter"/> for the rate-limiting middleware, which caches and disposes its
    /// limiters as it sees fit: this view of the shared bucket owns nothing, so that disposing it loses nothing.
    /// </summary>
    public RateLimiter For(string apiKey) => new Bucket(_buckets, apiKey);

    public void Dispose() => _buckets.Dispose();

    private sealed class Bucket(PartitionedRateLimiter<string> buckets, string apiKey) : RateLimiter
    {
        // Never idle to the middleware: it keeps one view per key name, and the shared buckets clean up themselves.
        public override TimeSpan? IdleDuration => null;

        public override RateLimiterStatistics? GetStatistics() => buckets.GetStatistics(apiKey);

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => buckets.AttemptAcquire(apiKey, permitCount);

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            buckets.AcquireAsync(apiKey, permitCount, cancellationToken);
    }
}
