using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Live;

/// <summary>The browser's SignalR client (<c>@microsoft/signalr</c> under Node) against the API on a real port.</summary>
public sealed class SignalRJsClientTests : IDisposable
{
    private readonly KestrelApi _api = KestrelApi.Start(new() { ["Diffusion:PreviewInterval"] = "1" });

    public void Dispose() => _api.Dispose();

    private async Task<Guid> SubmitAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", body, TestContext.Current.CancellationToken);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task The_js_client_receives_queued_started_progress_and_completed()
    {
        using var http = _api.CreateClient();
        // Long enough to outlast the Node client's start on a busy machine; cancelled as soon as the client has subscribed.
        var blocker = await SubmitAsync(http, new { prompt = "in front", steps = 150, width = 1024, height = 1024, n = 4 });
        var id = await SubmitAsync(http, new { prompt = "a harbour", steps = 8, width = 128, height = 128, seed = 9 });

        using var node = NodeScript.Start("signalr-client.mjs", _api.BaseAddress.ToString(), id.ToString());
        var events = new List<JsonElement>();
        while (await node.ReadLineAsync() is { } line)
        {
            var element = JsonDocument.Parse(line).RootElement;
            events.Add(element);
            var name = element.GetProperty("event").GetString();
            Assert.NotEqual("error", name);
            if (name == "subscribed")
            {
                await http.DeleteAsync($"/v1/generations/{blocker}", TestContext.Current.CancellationToken);
            }
        }

        Assert.Equal(0, await node.WaitForExitAsync());
        var names = string.Join(' ', events.Select(e => e.GetProperty("event").GetString()));
        Assert.Matches("^connected (queued )+subscribed (queued )*started (progress )+completed$", names);
        Assert.Equal("WebSocketTransport", events[0].GetProperty("transport").GetString());
        Assert.Contains(events, e => e.TryGetProperty("preview", out var p) && p.GetString() is { } s && s.StartsWith("data:image/jpeg;base64,", StringComparison.Ordinal));
        var image = events[^1].GetProperty("images")[0];
        Assert.Equal(9L, image.GetProperty("seed").GetInt64());
        Assert.Equal(new Uri(_api.BaseAddress, $"/v1/generations/{id}/images/0").ToString(), image.GetProperty("url").GetString());
    }

    [Fact]
    public async Task The_js_client_gets_a_clear_error_for_an_unknown_job()
    {
        using var node = NodeScript.Start("signalr-client.mjs", _api.BaseAddress.ToString(), Guid.NewGuid().ToString());

        Assert.Equal("connected", JsonDocument.Parse((await node.ReadLineAsync())!).RootElement.GetProperty("event").GetString());
        var error = JsonDocument.Parse((await node.ReadLineAsync())!).RootElement;

        Assert.Equal("error", error.GetProperty("event").GetString());
        Assert.Contains("Unknown generation job", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, await node.WaitForExitAsync());
    }
}
