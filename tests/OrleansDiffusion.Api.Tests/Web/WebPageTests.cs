using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Web;

/// <summary>The page at <c>/</c> in Debian's Chromium, driven by playwright-core, against the API on a real port.</summary>
public sealed class WebPageTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";

    private readonly KestrelApi _api = KestrelApi.Start();

    public void Dispose() => _api.Dispose();

    [Fact]
    public async Task A_prompt_is_counted_generated_with_live_progress_and_shown_in_the_gallery()
    {
        Assert.True(File.Exists(Chromium), $"Debian's chromium is missing ({Chromium}): install it with 'apt-get install -y chromium' (.ci/run does).");
        Assert.True(Directory.Exists(Path.Combine(NodeScript.TestsDirectory, "node_modules", "playwright-core")), "playwright-core is missing: run 'npm ci --prefix tests'.");

        var screenshot = Path.Combine(Path.GetTempPath(), $"od-web-{Guid.NewGuid():N}.png");
        using var node = NodeScript.Start("web-page.mjs", _api.BaseAddress.ToString(), screenshot);
        var events = new Dictionary<string, JsonElement>();
        while (await node.ReadLineAsync(120) is { } line)
        {
            var element = JsonDocument.Parse(line).RootElement;
            var name = element.GetProperty("event").GetString()!;
            Assert.False(name is "error" or "pageerror", $"{line}\n{node.Stderr}");
            events[name] = element;
        }

        Assert.Equal(0, await node.WaitForExitAsync());
        File.Delete(screenshot);

        var loaded = events["loaded"];
        Assert.Contains("demo model, not Stable Diffusion", loaded.GetProperty("demoNote").GetString(), StringComparison.Ordinal);
        Assert.Contains("euler_a", loaded.GetProperty("schedulers").EnumerateArray().Select(s => s.GetString()));

        Assert.Matches(@"^\d+ / 75 tokens$", events["tokens"].GetProperty("count").GetString()!);
        Assert.False(events["tokens"].GetProperty("chunks").GetBoolean());

        var generated = events["generated"];
        Assert.Equal(100, generated.GetProperty("progress").GetDouble());
        Assert.Equal(100, generated.GetProperty("progressSeen").EnumerateArray().Max(v => v.GetDouble()));
        var image = Assert.Single(generated.GetProperty("images").EnumerateArray());
        Assert.Equal((64, 64), (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
        Assert.Contains("/v1/generations/", image.GetProperty("src").GetString(), StringComparison.Ordinal);
        Assert.Contains("seed 21", generated.GetProperty("caption").GetString(), StringComparison.Ordinal);
        Assert.Contains("4 steps", generated.GetProperty("caption").GetString(), StringComparison.Ordinal);

        var longPrompt = events["long-prompt"];
        Assert.Equal("90 / 150 tokens", longPrompt.GetProperty("count").GetString());
        Assert.Contains("2 chunks", longPrompt.GetProperty("chunks").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_and_its_scripts_are_served()
    {
        using var http = _api.CreateClient();

        var page = await http.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("<script src=\"lib/signalr.min.js\"></script>", page, StringComparison.Ordinal);
        Assert.Contains("signalR", await http.GetStringAsync("/lib/signalr.min.js", TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Contains("/hubs/generations", await http.GetStringAsync("/app.js", TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_forbids_framing_sniffing_and_scripts_from_elsewhere()
    {
        using var http = _api.CreateClient();

        foreach (var path in new[] { "/", "/app.js", "/v1/models" })
        {
            using var response = await http.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            var policy = response.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
            Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe", policy, StringComparison.Ordinal);
        }

        // The page itself still works under it: A_prompt_is_counted_generated_with_live_progress_and_shown_in_the_gallery
        // drives it in Chromium, which enforces the policy.
    }
}
