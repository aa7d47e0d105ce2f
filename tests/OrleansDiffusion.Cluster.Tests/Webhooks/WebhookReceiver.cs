using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace OrleansDiffusion.Cluster.Tests.Webhooks;

/// <summary>
/// A real webhook receiver on loopback (Kestrel): it verifies every delivery's signature with the StandardWebhooks
/// library (not the service's code), records every attempt, and answers 500 while <see cref="Refusing"/> is set.
/// <c>/redirect</c> answers 307 to <c>/hook</c>, to show that a redirect is not followed.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly StandardWebhook _verifier;
    private readonly ConcurrentQueue<WebhookAttempt> _attempts = new();
    private int _redirects;

    private WebhookReceiver(WebApplication app, string secret)
    {
        _app = app;
        _verifier = new StandardWebhook(secret);
    }

    /// <summary>A fresh secret in Standard Webhooks' form (<c>whsec_</c> + base64 of 32 random bytes).</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>Answer 500 to every delivery while set.</summary>
    public bool Refusing { get; set; }

    public string Url => _app.Urls.First() + "/hook";

    public string RedirectUrl => _app.Urls.First() + "/redirect";

    public IReadOnlyList<WebhookAttempt> Attempts => [.. _attempts];

    /// <summary>How many deliveries came to <see cref="RedirectUrl"/>.</summary>
    public int Redirects => Volatile.Read(ref _redirects);

    /// <summary>The deliveries answered 2xx, in arrival order.</summary>
    public IReadOnlyList<WebhookAttempt> Delivered => [.. _attempts.Where(a => a.Accepted)];

    public static async Task<WebhookReceiver> StartAsync(string secret)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secret);
        app.MapPost("/hook", receiver.ReceiveAsync);
        app.MapPost("/redirect", () =>
        {
            Interlocked.Increment(ref receiver._redirects);
            return Results.Redirect("/hook", permanent: false, preserveMethod: true);
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until <paramref name="done"/> holds for the attempts so far; throws <see cref="TimeoutException"/>.</summary>
    public async Task WaitForAsync(Func<IReadOnlyList<WebhookAttempt>, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done(Attempts))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No {what} within {timeout}; attempts: {string.Join(", ", Attempts.Select(a => $"{a.Type}:{a.Accepted}"))}.");
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private async Task<IResult> ReceiveAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync();
        var verified = true;
        try
        {
            _verifier.Verify(body, request.Headers);
        }
        catch (WebhookVerificationException)
        {
            verified = false;
        }

        using var json = JsonDocument.Parse(body);
        var accepted = verified && !Refusing;
        _attempts.Enqueue(new WebhookAttempt(
            request.Headers["webhook-id"].ToString(),
            json.RootElement.GetProperty("type").GetString()!,
            json.RootElement.GetProperty("timestamp").GetDateTimeOffset(),
            json.RootElement.GetProperty("data").Clone(),
            verified,
            accepted,
            DateTime.UtcNow));
        return accepted ? Results.NoContent() : Results.StatusCode((int)HttpStatusCode.InternalServerError);
    }
}

/// <summary>
/// One delivery attempt as the receiver saw it: its <c>webhook-id</c>, event type and time (the body's), job, and what
/// it answered when.
/// </summary>
public sealed record WebhookAttempt(string Id, string Type, DateTimeOffset Timestamp, JsonElement Job, bool Verified, bool Accepted, DateTime At)
{
    public Guid JobId => Job.GetProperty("id").GetGuid();
}
