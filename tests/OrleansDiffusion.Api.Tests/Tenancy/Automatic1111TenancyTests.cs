using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.Tenancy;

/// <summary>The AUTOMATIC1111 surface is per key: progress, interrupt, the selected checkpoint and CLIP skip (issue 10).</summary>
public sealed class Automatic1111TenancyTests : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "od-a1111-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly ApiFactory _factory;

    public Automatic1111TenancyTests()
    {
        DemoModelWriter.Write(_models, new DemoModelOptions());
        _factory = new ApiFactory(ApiFactory.WithKeys(new()
        {
            ["Diffusion:Models:0:Id"] = "first",
            ["Diffusion:Models:0:Path"] = _models,
            ["Diffusion:Models:1:Id"] = "second",
            ["Diffusion:Models:1:Path"] = _models,
        }));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _factory.Dispose();
        Directory.Delete(_models, recursive: true);
    }

    [Fact]
    public async Task The_checkpoint_a_key_selects_is_its_own()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);

        var set = await alice.PostAsync("/sdapi/v1/options", Json("""{"sd_model_checkpoint":"second"}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        Assert.StartsWith("second", await CheckpointAsync(alice), StringComparison.Ordinal);
        Assert.StartsWith("first", await CheckpointAsync(bob), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_clip_skip_a_key_sets_is_its_own()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);

        var set = await alice.PostAsync("/sdapi/v1/options", Json("""{"CLIP_stop_at_last_layers":2}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        Assert.Equal(2, (await alice.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("CLIP_stop_at_last_layers").GetInt32());
        Assert.Equal(1, (await bob.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("CLIP_stop_at_last_layers").GetInt32());
    }

    [Fact]
    public async Task Progress_and_interrupt_address_only_the_callers_own_job()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);
        var running = alice.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"alice's","steps":150,"width":1024,"height":1024,"batch_size":2,"seed":5}"""), Ct);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement own = default;
        while (DateTime.UtcNow < deadline && !running.IsCompleted)
        {
            own = await alice.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
            if (own.GetProperty("state").GetProperty("sampling_step").GetInt32() > 0)
            {
                break;
            }

            await Task.Delay(50, Ct);
        }

        Assert.False(running.IsCompleted, "alice's job finished before it was seen running");
        Assert.Equal(1, own.GetProperty("state").GetProperty("job_count").GetInt32());

        // Bob sees no job, and his interrupt stops nothing of alice's.
        var theirs = await bob.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress?skip_current_image=false", Ct);
        Assert.Equal(0, theirs.GetProperty("state").GetProperty("job_count").GetInt32());
        Assert.Equal(JsonValueKind.Null, theirs.GetProperty("current_image").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await bob.PostAsync("/sdapi/v1/interrupt", null, Ct)).StatusCode);
        await Task.Delay(300, Ct);
        var after = await alice.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
        Assert.False(after.GetProperty("state").GetProperty("interrupted").GetBoolean());
        Assert.False(running.IsCompleted, "bob's interrupt stopped alice's job");

        // Alice's own interrupt does.
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync("/sdapi/v1/interrupt", null, Ct)).StatusCode);
        var response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement.GetProperty("interrupted").GetBoolean());
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<string> CheckpointAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("sd_model_checkpoint").GetString()!;

    private HttpClient Client(string key)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("user:" + key)));
        return client;
    }
}
