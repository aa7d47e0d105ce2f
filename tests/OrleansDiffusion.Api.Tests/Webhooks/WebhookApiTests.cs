using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.Cluster.Tests.Webhooks;

namespace OrleansDiffusion.Api.Tests.Webhooks;

/// <summary>
/// Webhooks through the real API over HTTP: a job's events reach a real receiver on loopback, signed (checked with the
/// StandardWebhooks library), in order, progress at most twice a second; bad webhooks are a 400.
/// </summary>
public sealed class WebhookApiTests
{
    private static readonly string Secret = WebhookReceiver.NewSecret();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Keys alice (with a webhook secret) and bob (without); loopback targets over http allowed, fast retries.</summary>
    private static Dictionary<string, string> Settings(bool allowPrivate = true) => ApiFactory.WithKeys(new()
    {
        ["Diffusion:Api:Keys:0:WebhookSecret"] = Secret,
        ["Diffusion:Webhooks:AllowPrivateTargets"] = allowPrivate ? "true" : "false",
        ["Diffusion:Webhooks:AllowHttp"] = "true",
        ["Diffusion:Webhooks:RetryDelay"] = "00:00:00.200",
        ["Diffusion:Webhooks:MaxRetryDelay"] = "00:00:00.400",
    });

    private static HttpClient Client(KestrelApi api, string key)
    {
        var http = api.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    [Fact]
    public async Task A_jobs_events_reach_a_loopback_receiver_signed_in_order_with_progress_at_most_twice_a_second()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        using var api = KestrelApi.Start(Settings());
        using var http = Client(api, ApiFactory.AliceKey);

        var response = await http.PostAsync(
            "/v1/generations",
            Json($$"""{"prompt":"a lighthouse","steps":150,"width":768,"height":768,"seed":3,"webhook":"{{receiver.Url}}","webhook_events":["queued","started","progress","completed"]}"""),
            TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();

        await receiver.WaitForAsync(a => a.Any(x => x.Type == "completed"), TimeSpan.FromSeconds(120), "completed event");
        var job = await http.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", TestContext.Current.CancellationToken);

        var delivered = receiver.Delivered;
        Assert.All(receiver.Attempts, a => Assert.True(a.Verified && a.Accepted, $"attempt {a.Id} ({a.Type})"));
        Assert.All(delivered, a => Assert.Equal(id, a.JobId));
        Assert.Equal("queued", delivered[0].Type);
        Assert.Equal("started", delivered[1].Type);
        Assert.Equal("completed", delivered[^1].Type);
        var progress = delivered.Skip(2).SkipLast(1).ToList();
        Assert.NotEmpty(progress);
        Assert.All(progress, p => Assert.Equal("progress", p.Type));
        Assert.Equal(delivered.Count, delivered.Select(a => a.Id).Distinct().Count());

        // Coalesced: progress events are made at least 500 ms apart (their timestamps), and their steps rise.
        for (var i = 1; i < progress.Count; i++)
        {
            var gap = progress[i].Timestamp - progress[i - 1].Timestamp;
            Assert.True(gap >= TimeSpan.FromMilliseconds(495), $"progress {i} was made {gap.TotalMilliseconds} ms after the one before");
        }

        var steps = progress.Select(p => p.Job.GetProperty("progress").GetProperty("step").GetInt32()).ToList();
        Assert.Equal(steps.Order(), steps);
        Assert.All(progress, p => Assert.Equal("running", p.Job.GetProperty("status").GetString()));

        // The outcome's payload is the job exactly as GET shows it.
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.True(JsonElement.DeepEquals(job, delivered[^1].Job), $"webhook {delivered[^1].Job} differs from GET {job}");
        TestContext.Current.TestOutputHelper?.WriteLine($"{progress.Count} progress events over {(delivered[^1].At - delivered[1].At).TotalSeconds:F1} s");
    }

    [Fact]
    public async Task A_refused_delivery_is_retried_and_a_redirect_is_not_followed()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        using var api = KestrelApi.Start(Settings());
        using var http = Client(api, ApiFactory.AliceKey);
        receiver.Refusing = true;

        var refused = await http.PostAsync("/v1/generations", Json($$"""{"prompt":"retried","steps":2,"width":64,"height":64,"webhook":"{{receiver.Url}}"}"""), TestContext.Current.CancellationToken);
        var redirected = await http.PostAsync("/v1/generations", Json($$"""{"prompt":"redirected","steps":2,"width":64,"height":64,"webhook":"{{receiver.RedirectUrl}}"}"""), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, redirected.StatusCode);

        await receiver.WaitForAsync(a => a.Count >= 3, TimeSpan.FromSeconds(60), "three refused attempts");
        receiver.Refusing = false;
        await receiver.WaitForAsync(a => a.Any(x => x.Accepted), TimeSpan.FromSeconds(30), "a delivery after the refusals");

        var id = (await refused.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
        Assert.All(receiver.Attempts, a => Assert.Equal(id, a.JobId)); // none came through the redirect
        Assert.All(receiver.Attempts, a => Assert.Equal(("completed", $"msg_{id:N}_completed"), (a.Type, a.Id)));
        Assert.Single(receiver.Delivered);
        Assert.True(receiver.Redirects >= 2, $"{receiver.Redirects} attempts at the redirecting target");
    }

    [Fact]
    public async Task A_bad_webhook_is_a_400_naming_the_field()
    {
        using var api = KestrelApi.Start(Settings(allowPrivate: false));
        using var alice = Client(api, ApiFactory.AliceKey);
        using var bob = Client(api, ApiFactory.BobKey);
        (HttpClient Caller, string Fields, string Field)[] cases =
        [
            (alice, """ "webhook":"https://127.0.0.1/hook" """, "webhook"),
            (alice, """ "webhook":"https://10.1.2.3/hook" """, "webhook"),
            (alice, """ "webhook":"https://192.168.1.1/hook" """, "webhook"),
            (alice, """ "webhook":"https://[::1]/hook" """, "webhook"),
            (alice, """ "webhook":"https://[::ffff:127.0.0.1]/hook" """, "webhook"),
            (alice, """ "webhook":"https://169.254.169.254/latest/meta-data" """, "webhook"),
            (alice, """ "webhook":"https://localhost/hook" """, "webhook"),
            (alice, """ "webhook":"ftp://93.184.215.14/hook" """, "webhook"),
            (alice, """ "webhook":"https://user:pw@93.184.215.14/hook" """, "webhook"),
            (alice, """ "webhook":"not a url" """, "webhook"),
            (alice, """ "webhook":"https://93.184.215.14/hook","webhook_events":["finished"] """, "webhook_events"),
            (alice, """ "webhook":"https://93.184.215.14/hook","webhook_events":[] """, "webhook_events"),
            (alice, """ "webhook_events":["completed"] """, "webhook_events"),
            (bob, """ "webhook":"https://93.184.215.14/hook" """, "webhook"),
        ];

        foreach (var (caller, fields, field) in cases)
        {
            var response = await caller.PostAsync("/v1/generations", Json($$"""{"prompt":"refused",{{fields}}}"""), TestContext.Current.CancellationToken);

            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{fields}: {response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{fields}: {problem}");
        }
    }

    [Fact]
    public async Task The_anonymous_loopback_user_gets_webhooks_with_the_anonymous_secret_only()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Secret);
        using var withSecret = KestrelApi.Start(new()
        {
            ["Diffusion:Webhooks:AnonymousSecret"] = Secret,
            ["Diffusion:Webhooks:AllowPrivateTargets"] = "true",
            ["Diffusion:Webhooks:AllowHttp"] = "true",
        });
        using var http = withSecret.CreateClient();

        var accepted = await http.PostAsync("/v1/generations", Json($$"""{"prompt":"anonymous","steps":2,"width":64,"height":64,"webhook":"{{receiver.Url}}"}"""), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        await receiver.WaitForAsync(a => a.Any(x => x.Type == "completed"), TimeSpan.FromSeconds(60), "completed event");
        Assert.All(receiver.Attempts, a => Assert.True(a.Verified));

        using var withoutSecret = KestrelApi.Start(new() { ["Diffusion:Webhooks:AllowPrivateTargets"] = "true", ["Diffusion:Webhooks:AllowHttp"] = "true" });
        using var other = withoutSecret.CreateClient();
        var refused = await other.PostAsync("/v1/generations", Json($$"""{"prompt":"anonymous","webhook":"{{receiver.Url}}"}"""), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }
}
