using System.Diagnostics;
using System.Net;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>One HTTP answer as a fault test judges it: what was asked, the status, how long it took, Retry-After, the body.</summary>
public sealed record Answer(string Request, HttpStatusCode Status, TimeSpan Elapsed, TimeSpan? RetryAfter, string ContentType, string Body)
{
    /// <summary>Sends a request and times its answer; a request that hangs past <paramref name="giveUp"/> is an answer too (status 0).</summary>
    public static async Task<Answer> TimeAsync(HttpClient http, HttpRequestMessage request, TimeSpan giveUp)
    {
        var what = $"{request.Method} {request.RequestUri}";
        var clock = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(giveUp);
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            return new Answer(what, response.StatusCode, clock.Elapsed, response.Headers.RetryAfter?.Delta, response.Content.Headers.ContentType?.MediaType ?? string.Empty, body);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return new Answer(what, 0, clock.Elapsed, null, string.Empty, "(no answer: it hung)");
        }
    }

    public override string ToString() => $"{Request} -> {(int)Status} after {Elapsed.TotalSeconds:F1} s (Retry-After {RetryAfter?.TotalSeconds}) {Body[..Math.Min(Body.Length, 300)]}";
}
