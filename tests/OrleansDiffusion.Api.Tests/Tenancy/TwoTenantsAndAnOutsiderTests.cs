using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Tests.Live;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.Tenancy;

/// <summary>
/// The API as an attacker meets it: a real API process on a loopback port with two tenants (alice and bob), an admin
/// (carol) and an outsider (no key, or a wrong one), driven over real HTTP and a real SignalR connection through every
/// API surface (issue 10). Each test uses its own prompts, so the shared process's cache does not couple them.
/// </summary>
public sealed class TwoTenantsAndAnOutsiderTests(TwoTenantsAndAnOutsiderTests.Server server) : IClassFixture<TwoTenantsAndAnOutsiderTests.Server>
{
    public const string AliceKey = "alice-process-key";
    public const string BobKey = "bob-process-key";
    public const string CarolKey = "carol-process-admin-key";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_outsider_without_a_key_or_with_a_wrong_one_is_refused_by_every_api_and_the_hub()
    {
        foreach (var key in new[] { null, "not-a-key" })
        {
            using var outsider = server.Api.Client(key);
            foreach (var (method, path, body) in new (HttpMethod, string, string?)[]
            {
                (HttpMethod.Post, "/v1/generations", """{"prompt":"outsider"}"""),
                (HttpMethod.Get, $"/v1/generations/{Guid.NewGuid()}", null),
                (HttpMethod.Post, "/v1/images/generations", """{"prompt":"outsider"}"""),
                (HttpMethod.Post, "/sdapi/v1/txt2img", """{"prompt":"outsider"}"""),
                (HttpMethod.Get, "/sdapi/v1/progress", null),
                (HttpMethod.Post, "/sdapi/v1/interrupt", null),
                (HttpMethod.Get, "/v1/models", null),
            })
            {
                using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json(body) };
                using var response = await outsider.SendAsync(request, Ct);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with key '{key}': {response.StatusCode}");
            }

            var hub = await Assert.ThrowsAnyAsync<HttpRequestException>(() => HubRecorder.ConnectAsync(server.Api.BaseAddress, key));
            Assert.Equal(HttpStatusCode.Unauthorized, hub.StatusCode);
        }
    }

    [Fact]
    public async Task Bob_meets_alices_job_on_every_path_exactly_as_an_unknown_id_and_changes_nothing()
    {
        using var alice = server.Api.Client(AliceKey);
        using var bob = server.Api.Client(BobKey);
        var id = await SubmitAndWaitAsync(alice, "alice's finished private prompt");
        var unknown = Guid.NewGuid();

        foreach (var (method, path) in new[] { (HttpMethod.Get, ""), (HttpMethod.Get, "/images/0"), (HttpMethod.Delete, "") })
        {
            using var theirs = await bob.SendAsync(new HttpRequestMessage(method, $"/v1/generations/{id}{path}"), Ct);
            using var none = await bob.SendAsync(new HttpRequestMessage(method, $"/v1/generations/{unknown}{path}"), Ct);
            Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
            Assert.Equal(none.StatusCode, theirs.StatusCode);
            Assert.Equal(
                Normalize(await none.Content.ReadAsStringAsync(Ct), unknown),
                Normalize(await theirs.Content.ReadAsStringAsync(Ct), id));
        }

        await using (var watcher = await HubRecorder.ConnectAsync(server.Api.BaseAddress, BobKey))
        {
            var theirs = await Assert.ThrowsAsync<HubException>(() => watcher.SubscribeAsync(id));
            var none = await Assert.ThrowsAsync<HubException>(() => watcher.SubscribeAsync(unknown));
            Assert.Equal(none.Message.Replace(unknown.ToString(), "ID", StringComparison.Ordinal), theirs.Message.Replace(id.ToString(), "ID", StringComparison.Ordinal));
        }

        // Alice's job is untouched by bob's DELETE, and its image is hers to fetch.
        var own = await alice.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", Ct);
        Assert.Equal("succeeded", own.GetProperty("status").GetString());
        using var image = await alice.GetAsync($"/v1/generations/{id}/images/0", Ct);
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_admin_sees_and_cancels_any_tenants_job()
    {
        using var alice = server.Api.Client(AliceKey);
        using var carol = server.Api.Client(CarolKey);

        // Long enough to be cancelled while it waits or runs.
        var id = await SubmitAsync(alice, new { prompt = "alice's long job, cancelled by the admin", steps = 150, width = 512, height = 512, seed = 11 });
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync($"/v1/generations/{id}", Ct)).StatusCode);
        var cancelled = await carol.DeleteFromJsonAsync<JsonElement>($"/v1/generations/{id}", Ct);
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal("cancelled", (await alice.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", Ct)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Each_tenant_has_its_own_automatic1111_checkpoint_and_progress()
    {
        using var alice = server.Api.Client(AliceKey);
        using var bob = server.Api.Client(BobKey);

        using var set = await alice.PostAsync("/sdapi/v1/options", Json("""{"sd_model_checkpoint":"second"}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.StartsWith("second", await CheckpointAsync(alice), StringComparison.Ordinal);
        Assert.StartsWith("first", await CheckpointAsync(bob), StringComparison.Ordinal);

        // Alice's running job is hers: bob's progress shows nothing and his interrupt stops nothing.
        var running = alice.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"alice's a1111 job","steps":150,"width":1024,"height":1024,"seed":5}"""), Ct);
        Assert.True(await SeenRunningAsync(alice, running), "alice's job finished before it was seen running");
        var theirs = await bob.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress?skip_current_image=false", Ct);
        Assert.Equal(0, theirs.GetProperty("state").GetProperty("job_count").GetInt32());
        Assert.Equal(JsonValueKind.Null, theirs.GetProperty("current_image").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await bob.PostAsync("/sdapi/v1/interrupt", null, Ct)).StatusCode);
        await Task.Delay(300, Ct);
        Assert.False(running.IsCompleted, "bob's interrupt stopped alice's job");

        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync("/sdapi/v1/interrupt", null, Ct)).StatusCode);
        using var response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Only_the_admin_opens_the_orleans_dashboard()
    {
        foreach (var (key, expected) in new[] { (null, HttpStatusCode.Unauthorized), ("not-a-key", HttpStatusCode.Unauthorized), (AliceKey, HttpStatusCode.Forbidden), (CarolKey, HttpStatusCode.OK) })
        {
            using var client = server.Api.Client(key);
            using var response = await client.GetAsync("/dashboard/", Ct);
            Assert.True(response.StatusCode == expected, $"/dashboard/ with key '{key}': {response.StatusCode}, expected {expected}");
        }
    }

    [Fact]
    public async Task Forty_identical_requests_of_one_tenant_share_one_inference_and_none_is_refused_by_the_quota()
    {
        // 40 x 60 units is twice alice's quota of 1200, yet they are one inference: joins cost nothing.
        using var alice = server.Api.Client(AliceKey);
        var body = new { prompt = "forty of the same", steps = 150, width = 512, height = 512, seed = 40 };
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            using var response = await alice.PostAsJsonAsync("/v1/generations", body, Ct);
            return response.StatusCode;
        }));

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.Accepted, status));
    }

    [Fact]
    public async Task A_small_png_that_inflates_to_128_mib_costs_the_api_little()
    {
        using var bob = server.Api.Client(BobKey);
        var hostile = HostilePngs.WithZtxtBomb(HostilePngs.Gradient(64, 64), 128L << 20);
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await bob.PostAsJsonAsync(
            "/v1/generations",
            new { prompt = "a bomb", steps = 2, width = 64, height = 64, seed = 9, init_image = Convert.ToBase64String(hostile), strength = 0.5 },
            Ct);

        // Its text chunk is dropped unread: accepted as the small image it is, well before inflating 128 MiB could be.
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    [Theory]
    [InlineData("/v1/generations")]
    [InlineData("/v1/images/generations")]
    [InlineData("/sdapi/v1/txt2img")]
    public async Task A_cross_site_text_plain_post_is_refused_and_starts_nothing(string path)
    {
        using var alice = server.Api.Client(AliceKey);
        using var response = await alice.PostAsync(path, new StringContent("""{"prompt":"from another site"}""", Encoding.UTF8, "text/plain"), Ct);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task The_web_page_forbids_framing_sniffing_and_foreign_scripts()
    {
        using var anyone = server.Api.Client(null);
        using var page = await anyone.GetAsync("/", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
    }

    private static async Task<bool> SeenRunningAsync(HttpClient http, Task running)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !running.IsCompleted)
        {
            var progress = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
            if (progress.GetProperty("state").GetProperty("sampling_step").GetInt32() > 0)
            {
                return true;
            }

            await Task.Delay(50, Ct);
        }

        return false;
    }

    private static async Task<Guid> SubmitAsync(HttpClient http, object request)
    {
        using var response = await http.PostAsJsonAsync("/v1/generations", request, Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid();
    }

    private static async Task<Guid> SubmitAndWaitAsync(HttpClient http, string prompt)
    {
        var id = await SubmitAsync(http, new { prompt, steps = 2, width = 64, height = 64, seed = 7 });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var status = (await http.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", Ct)).GetProperty("status").GetString();
            if (status == "succeeded")
            {
                return id;
            }

            Assert.True(status is "queued" or "running", $"job {id} {status}");
            await Task.Delay(50, Ct);
        }

        throw new TimeoutException($"Job {id} did not finish within 60 s.");
    }

    private static async Task<string> CheckpointAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("sd_model_checkpoint").GetString()!;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A response body with the id and the per-request trace id taken out.</summary>
    private static string Normalize(string body, Guid id) =>
        System.Text.RegularExpressions.Regex.Replace(body.Replace(id.ToString(), "ID", StringComparison.Ordinal), "\"trace_?[iI]d\":\"[^\"]*\"", "\"trace_id\":\"T\"");

    /// <summary>One API process for the class: two models (for the checkpoint switch), keys for alice, bob and carol.</summary>
    public sealed class Server : IAsyncLifetime
    {
        private readonly string _models = Path.Combine(Path.GetTempPath(), "od-tenants-" + Guid.NewGuid().ToString("N")[..10]);
        private ApiServerProcess? _api;

        public ApiServerProcess Api => _api ?? throw new InvalidOperationException("Not started.");

        public async ValueTask InitializeAsync()
        {
            DemoModelWriter.Write(_models, new DemoModelOptions());
            _api = await ApiServerProcess.StartAsync(
                new Dictionary<string, string>
                {
                    ["Diffusion:Models:0:Id"] = "first",
                    ["Diffusion:Models:0:Path"] = _models,
                    ["Diffusion:Models:1:Id"] = "second",
                    ["Diffusion:Models:1:Path"] = _models,
                    ["Diffusion:Api:Keys:0:Name"] = "alice",
                    ["Diffusion:Api:Keys:0:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(AliceKey),
                    ["Diffusion:Api:Keys:1:Name"] = "bob",
                    ["Diffusion:Api:Keys:1:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(BobKey),
                    ["Diffusion:Api:Keys:2:Name"] = "carol",
                    ["Diffusion:Api:Keys:2:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(CarolKey),
                    ["Diffusion:Api:Keys:2:Admin"] = "true",
                },
                TestContext.Current.CancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            if (_api is not null)
            {
                await _api.DisposeAsync();
            }

            Directory.Delete(_models, recursive: true);
        }
    }
}
