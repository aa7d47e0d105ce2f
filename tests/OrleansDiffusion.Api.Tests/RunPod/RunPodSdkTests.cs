using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.RunPod;

/// <summary>
/// RunPod's own JavaScript SDK (<c>runpod-sdk</c> 1.1.2 under Node, its base URL pointed at the API) against the
/// RunPod-shaped endpoint on a real port, with an AUTOMATIC1111 body as the input.
/// </summary>
public sealed class RunPodSdkTests : IDisposable
{
    // Previews at every step; a quota that takes the blocker below, on the slow demo model.
    private readonly KestrelApi _api = KestrelApi.Start(Blocker.SlowModel(ApiFactory.WithKeys(new() { ["Diffusion:PreviewInterval"] = "1", ["Diffusion:Api:MaxConcurrentUnitsPerKey"] = "4800" })));

    public void Dispose() => _api.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HttpClient Client(string key)
    {
        var http = _api.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    /// <summary>Another key's long job on the one worker slot (<see cref="Blocker"/>).</summary>
    private async Task<(HttpClient Bob, Guid Blocker)> BlockAsync()
    {
        var bob = Client(ApiFactory.BobKey);
        return (bob, await Blocker.StartAsync(bob));
    }

    private static async Task UnblockAsync(HttpClient bob, Guid blocker)
    {
        using var response = await bob.DeleteAsync($"/v1/generations/{blocker}", Ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Runs a scenario of tests/js/runpod-client.mjs and returns its JSON lines (the SDK's own log lines left out).</summary>
    private async Task<List<JsonElement>> RunSdkAsync(string scenario, object input, Func<JsonElement, Task>? onLine = null)
    {
        using var node = NodeScript.Start("runpod-client.mjs", _api.BaseAddress.ToString(), ApiFactory.AliceKey, scenario, JsonSerializer.Serialize(input));
        var lines = new List<JsonElement>();
        while (await node.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith('{'))
            {
                continue; // the SDK logs "<id>: <status>" while runSync polls
            }

            var element = JsonDocument.Parse(line).RootElement.Clone();
            Assert.True(element.GetProperty("event").GetString() != "error", $"The SDK threw: {line} {node.Stderr}");
            lines.Add(element);
            if (onLine is not null)
            {
                await onLine(element);
            }
        }

        Assert.Equal(0, await node.WaitForExitAsync());
        return lines;
    }

    private static JsonElement Single(List<JsonElement> lines, string name) => Assert.Single(lines, l => l.GetProperty("event").GetString() == name);

    private static void AssertPng(JsonElement base64, int width, int height)
    {
        using var image = Image.Load<Rgb24>(Convert.FromBase64String(base64.GetString()!));
        Assert.Equal((width, height), (image.Width, image.Height));
    }

    [Fact]
    public async Task The_sdk_runs_a_job_and_follows_it_through_status_and_stream_to_its_output()
    {
        var (bob, blocker) = await BlockAsync();
        using var blockerKey = bob;

        var lines = await RunSdkAsync(
            "flow",
            new { prompt = "a harbour", steps = 8, width = 128, height = 128, seed = 9, sampler_name = "Euler a" },
            async line =>
            {
                // The job has been seen waiting in the queue: let it run, while the SDK streams.
                if (line.GetProperty("event").GetString() == "status")
                {
                    await UnblockAsync(bob, blocker);
                }
            });

        var run = Single(lines, "run");
        var id = run.GetProperty("id").GetString();
        Assert.Equal("IN_QUEUE", run.GetProperty("status").GetString());
        Assert.Equal("IN_QUEUE", Single(lines, "status").GetProperty("status").GetString());

        // Each chunk is A1111's progress while it runs (the last may be the finished answer).
        var chunks = lines.Where(l => l.GetProperty("event").GetString() == "chunk").Select(l => l.GetProperty("output")).ToList();
        var progress = chunks.Where(c => c.TryGetProperty("progress", out _)).ToList();
        Assert.NotEmpty(progress);
        Assert.All(progress, p => Assert.Equal(8, p.GetProperty("state").GetProperty("sampling_steps").GetInt32()));
        Assert.Contains(progress, p => p.GetProperty("current_image").ValueKind == JsonValueKind.String);
        Assert.All(chunks.Except(progress), c => AssertPng(c.GetProperty("images")[0], 128, 128));

        var final = Single(lines, "final");
        Assert.Equal(id, final.GetProperty("id").GetString());
        Assert.Equal("COMPLETED", final.GetProperty("status").GetString());
        Assert.True(final.GetProperty("succeeded").GetBoolean());
        var output = final.GetProperty("output");
        AssertPng(Assert.Single(output.GetProperty("images").EnumerateArray()), 128, 128);
        Assert.Equal(9, output.GetProperty("parameters").GetProperty("seed").GetInt64());
        var info = JsonDocument.Parse(output.GetProperty("info").GetString()!).RootElement;
        Assert.Equal(9, info.GetProperty("seed").GetInt64());
        Assert.Contains("Sampler: Euler a", info.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sdks_runSync_returns_the_A1111_answer()
    {
        var lines = await RunSdkAsync("runsync", new { prompt = "a lighthouse", negative_prompt = "fog", steps = 3, width = 64, height = 64, cfg_scale = 6.5, batch_size = 2, seed = 4 });

        var result = Single(lines, "result");
        Assert.Equal("COMPLETED", result.GetProperty("status").GetString());
        var output = result.GetProperty("output");
        var images = output.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(2, images.Count);
        Assert.All(images, i => AssertPng(i, 64, 64));
        var parameters = output.GetProperty("parameters");
        Assert.Equal("a lighthouse", parameters.GetProperty("prompt").GetString());
        Assert.Equal("fog", parameters.GetProperty("negative_prompt").GetString());
        Assert.Equal(6.5, parameters.GetProperty("cfg_scale").GetDouble());
        var info = JsonDocument.Parse(output.GetProperty("info").GetString()!).RootElement;
        Assert.Equal([4L, 5L], info.GetProperty("all_seeds").EnumerateArray().Select(s => s.GetInt64()));
        Assert.Contains("Negative prompt: fog", info.GetProperty("infotexts")[1].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sdk_cancels_a_queued_job()
    {
        var (bob, blocker) = await BlockAsync();
        using var blockerKey = bob;
        using var http = Client(ApiFactory.AliceKey);

        var lines = await RunSdkAsync("cancel", new { prompt = "never drawn", steps = 3, width = 64, height = 64 });
        await UnblockAsync(bob, blocker);

        var id = Single(lines, "run").GetProperty("id").GetString();
        var cancel = Single(lines, "cancel");
        Assert.Equal((id, "CANCELLED"), (cancel.GetProperty("id").GetString(), cancel.GetProperty("status").GetString()));
        Assert.Equal("CANCELLED", Single(lines, "status").GetProperty("status").GetString());
        var native = await http.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", Ct);
        Assert.Equal("cancelled", native.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_sdk_reads_the_clusters_health()
    {
        using var http = Client(ApiFactory.AliceKey);
        var done = await http.PostAsJsonAsync("/runpod/v2/any/runsync", new { input = new { prompt = "one", steps = 2, width = 64, height = 64 } }, Ct);
        Assert.Equal("COMPLETED", (await done.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("status").GetString());

        var health = Single(await RunSdkAsync("health", new { }), "health");

        var jobs = health.GetProperty("jobs");
        Assert.True(jobs.GetProperty("completed").GetInt64() >= 1);
        Assert.Equal(0, jobs.GetProperty("inQueue").GetInt64());
        Assert.Equal(0, jobs.GetProperty("inProgress").GetInt64());
        Assert.Equal(0, jobs.GetProperty("failed").GetInt64());
        var workers = health.GetProperty("workers");
        Assert.Equal((1, 0), (workers.GetProperty("idle").GetInt32(), workers.GetProperty("running").GetInt32()));
    }
}
