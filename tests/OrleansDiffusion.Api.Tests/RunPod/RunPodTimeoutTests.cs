using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.RunPod;

/// <summary>RunPod's <c>policy.ttl</c> on a cluster that runs no inference (capacity 0), so a job waits until its limit.</summary>
public sealed class RunPodTimeoutTests : IDisposable
{
    private const string Base = "/runpod/v2/a1111";

    private readonly ApiFactory _factory = new(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0" }));

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

    [Fact]
    public async Task A_job_past_its_ttl_is_cancelled_and_reported_timed_out()
    {
        using var http = _factory.CreateClient(ApiFactory.AliceKey);
        var body = new StringContent("""{"input": {"prompt": "too late", "steps": 2, "width": 64, "height": 64}, "policy": {"ttl": 10000}}""", Encoding.UTF8, "application/json");

        var run = await ReadAsync(await http.PostAsync($"{Base}/run", body, Ct));
        var id = run.GetProperty("id").GetString();
        Assert.Equal("IN_QUEUE", run.GetProperty("status").GetString());
        await Task.Delay(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("IN_QUEUE", (await ReadAsync(await http.GetAsync($"{Base}/status/{id}", Ct))).GetProperty("status").GetString());

        // The deadline's own timer cancels the job when the ttl passes; nobody asks in between.
        await Task.Delay(TimeSpan.FromSeconds(6), Ct);
        var native = await ReadAsync(await http.GetAsync($"/v1/generations/{id}", Ct));
        Assert.Equal("cancelled", native.GetProperty("status").GetString());
        Assert.Equal("TIMED_OUT", (await ReadAsync(await http.GetAsync($"{Base}/status/{id}", Ct))).GetProperty("status").GetString());
        Assert.Equal("TIMED_OUT", (await ReadAsync(await http.PostAsync($"{Base}/cancel/{id}", null, Ct))).GetProperty("status").GetString());
        var stream = await ReadAsync(await http.GetAsync($"{Base}/stream/{id}", Ct));
        Assert.Equal(("TIMED_OUT", 0), (stream.GetProperty("status").GetString(), stream.GetProperty("stream").GetArrayLength()));

        // It has left the queue.
        var health = await ReadAsync(await http.GetAsync($"{Base}/health", Ct));
        Assert.Equal(0, health.GetProperty("jobs").GetProperty("inQueue").GetInt64());
    }
}
