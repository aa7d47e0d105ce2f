using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Api.Hosting;

/// <summary>
/// Bounds every grain call an HTTP request makes by <see cref="ApiOptions.ClusterCallTimeout"/>. A call to a grain
/// whose silo has just died is routed to that silo until the cluster notices the death, and Orleans waits for its
/// response timeout (30 s) before it gives up; the request would hang as long and then fail. Here the request stops
/// waiting after a few seconds and answers 503 with Retry-After (<see cref="ApiFaults"/>); the call itself runs its
/// course and its outcome is dropped. Only calls made on behalf of a request are bounded: the middleware marks the
/// request's flow, and calls from grains (a co-hosted silo's own work) carry a source grain and are left alone.
/// </summary>
public sealed class ClusterCallTimeout(IOptions<ApiOptions> options) : IOutgoingGrainCallFilter
{
    private static readonly AsyncLocal<bool> InRequest = new();

    /// <summary>Middleware: the grain calls of the rest of this request are bounded.</summary>
    public static async Task MarkRequestAsync(HttpContext context, RequestDelegate next)
    {
        // Set inside this async method, so it flows into the request and is gone once the request is done.
        InRequest.Value = true;
        await next(context);
    }

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (!InRequest.Value || context.SourceContext is not null)
        {
            await context.Invoke();
            return;
        }

        var timeout = options.Value.ClusterCallTimeout;
        var call = context.Invoke();
        try
        {
            await call.WaitAsync(timeout);
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            call.Ignore(); // its late failure is of no interest any more
            throw new ClusterCallTimeoutException($"The cluster did not answer {context.InterfaceName}.{context.MethodName} within {timeout.TotalSeconds:0.#} s.");
        }
    }
}
