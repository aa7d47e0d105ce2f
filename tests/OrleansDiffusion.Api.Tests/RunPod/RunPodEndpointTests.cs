using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.Api.Tests.Inpainting;

namespace OrleansDiffusion.Api.Tests.RunPod;

/// <summary>
/// The RunPod-shaped endpoint over HTTP as RunPod's Python SDK (<c>runpod</c>'s <c>endpoint/runner.py</c>) sends its
/// requests: its error shape, who sees which job, the bare key of RunPod's curl examples, <c>?wait=</c>, policies and
/// the A1111 worker wrapper.
/// </summary>
public sealed class RunPodEndpointTests : IDisposable
{
    private const string Base = "/runpod/v2/a1111";

    // A quota that takes the blocker (and the execution timeout's long job), on the slow demo model.
    private readonly ApiFactory _factory = new(Blocker.SlowModel(ApiFactory.WithKeys(new() { ["Diffusion:Api:MaxConcurrentUnitsPerKey"] = "4800" })));

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

    private static async Task<string> ErrorOfAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        var body = await ReadAsync(response);
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
        return Assert.Single(body.EnumerateObject(), p => p.Name == "error").Value.GetString()!;
    }

    /// <summary>A long job of Bob's in front of the one worker slot (<see cref="Blocker"/>), so that Alice's next job waits in the queue.</summary>
    private async Task<(HttpClient Bob, Guid Blocker)> BlockAsync()
    {
        var bob = _factory.CreateClient(ApiFactory.BobKey);
        return (bob, await Blocker.StartAsync(bob));
    }

    private async Task<JsonElement> HealthAsync(HttpClient http) => await ReadAsync(await http.GetAsync($"{Base}/health", Ct));

    [Fact]
    public async Task Bad_input_is_a_400_in_RunPods_error_shape_and_queues_nothing()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);
        var bodies = new Dictionary<string, string>
        {
            ["""{"prompt": "no input"}"""] = "input",
            ["""{"input": "a lighthouse"}"""] = "input",
            ["""{"input": {"prompt": "x", "steps": "many"}}"""] = "input.steps",
            ["""{"input": {"prompt": "x", "sampler_name": "Heun"}}"""] = "Sampler not found",
            ["""{"input": {"prompt": "x", "width": 100000}}"""] = "width",
            ["""{"input": {"prompt": "x"}, "webhook": "https://example.com/done"}"""] = "webhook",
            ["""{"input": {"prompt": "x"}, "s3Config": {"bucketName": "b"}}"""] = "s3Config",
            ["""{"input": {"prompt": "x"}, "policy": {"executionTimeout": 1000}}"""] = "policy.executionTimeout",
            ["""{"input": {"prompt": "x"}, "policy": {"executionTimeout": 9000000000000000000}}"""] = "policy.executionTimeout",
            ["""{"input": {"prompt": "x"}, "policy": {"ttl": 5000}}"""] = "policy.ttl",
            ["""{"input": {"api": {"method": "GET", "endpoint": "/sdapi/v1/options"}, "payload": {}}}"""] = "input.api.endpoint",
            ["""{"input": """] = "JSON",
        };

        foreach (var (body, named) in bodies)
        {
            foreach (var operation in new[] { "run", "runsync" })
            {
                var error = await ErrorOfAsync(await http.PostAsync($"{Base}/{operation}", Json(body), Ct), HttpStatusCode.BadRequest);
                Assert.Contains(named, error, StringComparison.Ordinal);
            }
        }

        Assert.Contains("wait", await ErrorOfAsync(await http.PostAsync($"{Base}/runsync?wait=soon", Json("""{"input": {"prompt": "x"}}"""), Ct), HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await http.PostAsync($"{Base}/run", new StringContent("""{"input": {}}"""), Ct)).StatusCode);
        Assert.Contains("/cancel", await ErrorOfAsync(await http.PostAsync($"{Base}/purge-queue", null, Ct), HttpStatusCode.NotImplemented), StringComparison.Ordinal);
        Assert.Contains("/run", await ErrorOfAsync(await http.PostAsync($"{Base}/retry/{Guid.NewGuid()}", null, Ct), HttpStatusCode.NotImplemented), StringComparison.Ordinal);

        var jobs = (await HealthAsync(http)).GetProperty("jobs");
        Assert.Equal((0, 0, 0), (jobs.GetProperty("inQueue").GetInt64(), jobs.GetProperty("inProgress").GetInt64(), jobs.GetProperty("completed").GetInt64()));
    }

    [Fact]
    public async Task Another_keys_job_is_not_found_on_every_operation()
    {
        using var alice = _factory.CreateClient(ApiFactory.AliceKey);
        using var bob = _factory.CreateClient(ApiFactory.BobKey);
        var run = await ReadAsync(await alice.PostAsync($"{Base}/run", Json("""{"input": {"prompt": "mine", "steps": 2, "width": 64, "height": 64}}"""), Ct));
        var id = run.GetProperty("id").GetString();

        foreach (var request in new Func<HttpClient, string, Task<HttpResponseMessage>>[]
        {
            (http, job) => http.GetAsync($"{Base}/status/{job}", Ct),
            (http, job) => http.GetAsync($"{Base}/status-sync/{job}?wait=1000", Ct),
            (http, job) => http.GetAsync($"{Base}/stream/{job}", Ct),
            (http, job) => http.PostAsync($"{Base}/cancel/{job}", null, Ct),
        })
        {
            Assert.Equal("request does not exist", await ErrorOfAsync(await request(bob, id!), HttpStatusCode.NotFound));
            Assert.Equal("request does not exist", await ErrorOfAsync(await request(alice, Guid.NewGuid().ToString()), HttpStatusCode.NotFound));
            Assert.Equal("request does not exist", await ErrorOfAsync(await request(alice, "sync-not-a-job-u1"), HttpStatusCode.NotFound));
        }

        // Bob's cancel changed nothing: the job is Alice's and finishes.
        var status = await ReadAsync(await alice.GetAsync($"{Base}/status-sync/{id}?wait=60000", Ct));
        Assert.Equal("COMPLETED", status.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_bare_key_of_RunPods_examples_is_accepted_under_the_prefix_only()
    {
        using var bare = _factory.CreateClient();
        bare.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", ApiFactory.AliceKey);
        Assert.Equal(HttpStatusCode.OK, (await bare.GetAsync($"{Base}/health", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await bare.GetAsync("/v1/models", Ct)).StatusCode);

        using var anonymous = _factory.CreateClient();
        Assert.Contains("API key", await ErrorOfAsync(await anonymous.GetAsync($"{Base}/health", Ct), HttpStatusCode.Unauthorized), StringComparison.Ordinal);
        using var wrong = _factory.CreateClient("not-a-key");
        Assert.Contains("API key", await ErrorOfAsync(await wrong.PostAsync($"{Base}/run", Json("""{"input": {"prompt": "x"}}"""), Ct), HttpStatusCode.Unauthorized), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_prefix_is_configurable_and_checked_at_start()
    {
        using (var custom = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:RunPod:Prefix"] = "/gpu/v2" })))
        {
            using var http = custom.CreateClient();
            http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", ApiFactory.AliceKey);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/gpu/v2/a1111/health", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{Base}/health", Ct)).StatusCode);
        }

        using var wrong = new ApiFactory(new() { ["Diffusion:RunPod:Prefix"] = "runpod/v2/" });
        var error = Assert.ThrowsAny<Exception>(() => wrong.CreateClient());
        Assert.Contains("Diffusion:RunPod:Prefix", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runsync_that_outlasts_its_wait_answers_with_the_queued_job_which_status_sync_then_finishes()
    {
        var (bob, blocker) = await BlockAsync();
        using var blockerKey = bob;
        using var http = _factory.CreateClient(ApiFactory.AliceKey);

        var waited = await ReadAsync(await http.PostAsync($"{Base}/runsync?wait=1000", Json("""{"input": {"prompt": "later", "steps": 2, "width": 64, "height": 64, "seed": 3}}"""), Ct));
        Assert.Equal("IN_QUEUE", waited.GetProperty("status").GetString());
        Assert.False(waited.TryGetProperty("output", out _));
        var id = waited.GetProperty("id").GetString();
        var stream = await ReadAsync(await http.GetAsync($"{Base}/stream/{id}", Ct));
        Assert.Equal(("IN_QUEUE", 0), (stream.GetProperty("status").GetString(), stream.GetProperty("stream").GetArrayLength()));

        (await bob.DeleteAsync($"/v1/generations/{blocker}", Ct)).EnsureSuccessStatusCode();
        var done = await ReadAsync(await http.GetAsync($"{Base}/status-sync/{id}?wait=60000", Ct));

        Assert.Equal("COMPLETED", done.GetProperty("status").GetString());
        var info = JsonDocument.Parse(done.GetProperty("output").GetProperty("info").GetString()!).RootElement;
        Assert.Equal(3, info.GetProperty("seed").GetInt64());

        // A finished job streams nothing more (RunPod's SDKs stop there) and its status keeps the output.
        var after = await ReadAsync(await http.GetAsync($"{Base}/stream/{id}", Ct));
        Assert.Equal(("COMPLETED", 0), (after.GetProperty("status").GetString(), after.GetProperty("stream").GetArrayLength()));
        Assert.Equal(1, (await ReadAsync(await http.GetAsync($"{Base}/status/{id}", Ct))).GetProperty("output").GetProperty("images").GetArrayLength());
    }

    [Fact]
    public async Task A_job_that_finishes_within_its_policy_is_simply_completed()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);

        var done = await ReadAsync(await http.PostAsync($"{Base}/runsync", Json("""{"input": {"prompt": "in time", "steps": 2, "width": 64, "height": 64}, "policy": {"ttl": 600000, "executionTimeout": 600000, "lowPriority": true}}"""), Ct));

        Assert.Equal("COMPLETED", done.GetProperty("status").GetString());
        Assert.Equal("COMPLETED", (await ReadAsync(await http.GetAsync($"{Base}/status/{done.GetProperty("id").GetString()}", Ct))).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_job_running_past_its_execution_timeout_is_stopped_and_reported_timed_out()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);
        var started = DateTimeOffset.UtcNow;

        // Well over half a minute of work on the slow demo model, stopped after 5 s of running.
        var done = await ReadAsync(await http.PostAsync($"{Base}/runsync?wait=60000", Json("""{"input": {"prompt": "too long", "steps": 150, "width": 1024, "height": 1024, "batch_size": 8}, "policy": {"executionTimeout": 5001}}"""), Ct));

        Assert.Equal("TIMED_OUT", done.GetProperty("status").GetString());
        Assert.InRange(DateTimeOffset.UtcNow - started, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        var native = await ReadAsync(await http.GetAsync($"/v1/generations/{done.GetProperty("id").GetString()}", Ct));
        Assert.Equal("cancelled", native.GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_img2img_body_runs_bare_or_in_the_api_payload_wrapper()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);
        var image = Convert.ToBase64String(MaskImages.Picture());
        var payload = new { prompt = "a painting", init_images = new[] { image }, denoising_strength = 0.5, steps = 4, width = 64, height = 64, seed = 12 };

        foreach (var input in new object[] { payload, new { api = new { method = "POST", endpoint = "/sdapi/v1/img2img" }, payload } })
        {
            var response = await http.PostAsJsonAsync($"{Base}/runsync", new { input }, Ct);
            var done = await ReadAsync(response);

            Assert.Equal("COMPLETED", done.GetProperty("status").GetString());
            var output = done.GetProperty("output");
            Assert.Equal(0.5, output.GetProperty("parameters").GetProperty("denoising_strength").GetDouble());
            var info = JsonDocument.Parse(output.GetProperty("info").GetString()!).RootElement;
            Assert.Equal(0.5, info.GetProperty("denoising_strength").GetDouble());
            Assert.Contains("Denoising strength: 0.5", info.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_txt2img_body_with_the_hires_fix_runs_it_and_echoes_it()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);

        var done = await ReadAsync(await http.PostAsync($"{Base}/runsync", Json("""{"input": {"prompt": "a castle", "steps": 2, "width": 64, "height": 64, "enable_hr": true, "hr_scale": 2, "denoising_strength": 0.5}}"""), Ct));

        Assert.Equal("COMPLETED", done.GetProperty("status").GetString());
        var output = done.GetProperty("output");
        using var image = SixLabors.ImageSharp.Image.Load(Convert.FromBase64String(output.GetProperty("images")[0].GetString()!));
        Assert.Equal((128, 128), (image.Width, image.Height));
        var parameters = output.GetProperty("parameters");
        Assert.True(parameters.GetProperty("enable_hr").GetBoolean());
        Assert.Equal(2, parameters.GetProperty("hr_scale").GetDouble());
        Assert.Equal(0.5, parameters.GetProperty("denoising_strength").GetDouble());
        var info = JsonDocument.Parse(output.GetProperty("info").GetString()!).RootElement;
        Assert.Contains("Hires upscale: 2", info.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);
    }
}
