using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Live;

/// <summary>
/// <c>GET /v1/generations/{id}/events</c> (issue 12): server-sent events read by the <c>eventsource</c> package (the
/// browser's EventSource for Node, which reconnects with Last-Event-ID by itself) and by HttpClient, on a real port.
/// </summary>
public sealed class ServerSentEventsTests : IDisposable
{
    // A blocker of four 1024 x 1024 images keeps the only slot busy while a client connects.
    private readonly KestrelApi _api = KestrelApi.Start(ApiFactory.WithKeys(new()
    {
        ["Diffusion:PreviewInterval"] = "1",
        ["Diffusion:Api:MaxConcurrentUnitsPerKey"] = "9600",
    }));

    // Capacity 0: nothing runs, so a job stays queued until the test cancels it; a heartbeat a second.
    private readonly KestrelApi _idle = KestrelApi.Start(ApiFactory.WithKeys(new()
    {
        ["Diffusion:Capacity"] = "0",
        ["Diffusion:Api:EventStreamHeartbeat"] = "00:00:01",
    }));

    public void Dispose()
    {
        _api.Dispose();
        _idle.Dispose();
    }

    private HttpClient Client(string key, KestrelApi? api = null)
    {
        var http = (api ?? _api).CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static async Task<Guid> SubmitAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", body, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }

    private string EventsUrl(object id, KestrelApi? api = null) => new Uri((api ?? _api).BaseAddress, $"/v1/generations/{id}/events").ToString();

    private static async Task<JsonElement> NextAsync(NodeScript node) =>
        JsonDocument.Parse(await node.ReadLineAsync() ?? throw new InvalidOperationException($"The client ended early. stderr: {node.Stderr}")).RootElement;

    [Fact]
    public async Task An_event_source_receives_the_hubs_events_until_completed_and_then_stops()
    {
        using var http = Client(ApiFactory.AliceKey);
        // Long enough to outlast the Node client's start on a busy machine; cancelled once the client is connected.
        var blocker = await SubmitAsync(http, new { prompt = "in front", steps = 150, width = 1024, height = 1024, n = 4 });
        var id = await SubmitAsync(http, new { prompt = "a harbour", steps = 8, width = 128, height = 128, seed = 9 });

        using var node = NodeScript.Start("sse-client.mjs", EventsUrl(id), ApiFactory.AliceKey);
        var events = new List<JsonElement>();
        while (await node.ReadLineAsync() is { } line)
        {
            var element = JsonDocument.Parse(line).RootElement;
            events.Add(element);
            if (element.GetProperty("event").GetString() == "queued" && events.Count(e => e.GetProperty("event").GetString() == "queued") == 1)
            {
                await http.DeleteAsync($"/v1/generations/{blocker}", TestContext.Current.CancellationToken);
            }
        }

        var names = string.Join(' ', events.Select(e => e.GetProperty("event").GetString()));
        Assert.True(await node.WaitForExitAsync() == 0, $"{names}\n{node.Stderr}");

        // After the last event the stream ends; the client reconnects with Last-Event-ID "end", is answered 204, and stops.
        Assert.Matches("^open (queued )+started (progress )+completed error error$", names);
        Assert.Equal(204, events[^1].GetProperty("status").GetInt32());
        Assert.True(events[^1].GetProperty("closed").GetBoolean());

        var numbered = events.Where(e => e.GetProperty("event").GetString() is "queued" or "progress").Select(e => long.Parse(e.GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(numbered.Order(), numbered);
        Assert.Equal(numbered.Distinct().Count(), numbered.Count);
        var completed = events.Single(e => e.GetProperty("event").GetString() == "completed");
        Assert.Equal("end", completed.GetProperty("id").GetString());
        Assert.Equal(id, completed.GetProperty("data").GetProperty("id").GetGuid());
        var image = completed.GetProperty("data").GetProperty("images")[0];
        Assert.Equal(9L, image.GetProperty("seed").GetInt64());
        Assert.Equal(new Uri(_api.BaseAddress, $"/v1/generations/{id}/images/0").ToString(), image.GetProperty("url").GetString());
        var lastStep = events.Last(e => e.GetProperty("event").GetString() == "progress").GetProperty("data");
        Assert.Equal(lastStep.GetProperty("steps").GetInt32(), lastStep.GetProperty("step").GetInt32());
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "progress"
            && e.GetProperty("data").TryGetProperty("preview", out var p) && p.GetString()!.StartsWith("data:image/jpeg;base64,", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_reconnects_with_last_event_id_gets_nothing_twice()
    {
        using var http = Client(ApiFactory.AliceKey, _idle);
        var put = await http.PutAsJsonAsync("/v1/generations/my-render-1", new { prompt = "waits its turn", steps = 8, width = 128, height = 128 }, TestContext.Current.CancellationToken);
        var id = (await put.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();

        string queuedId;
        using (var first = NodeScript.Start("sse-client.mjs", EventsUrl(id, _idle), ApiFactory.AliceKey))
        {
            Assert.Equal("open", (await NextAsync(first)).GetProperty("event").GetString());
            var queued = await NextAsync(first);
            Assert.Equal("queued", queued.GetProperty("event").GetString());
            queuedId = queued.GetProperty("id").GetString()!;
        }

        // The first client is gone; a new one resumes after what it saw, by the job's client-visible address.
        using var resumed = NodeScript.Start("sse-client.mjs", EventsUrl("my-render-1", _idle), ApiFactory.AliceKey, queuedId);
        Assert.Equal("open", (await NextAsync(resumed)).GetProperty("event").GetString());
        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken); // two heartbeats: the job is read again, nothing is new
        await http.DeleteAsync("/v1/generations/my-render-1", TestContext.Current.CancellationToken);

        var next = await NextAsync(resumed);
        Assert.Equal("cancelled", next.GetProperty("event").GetString()); // not "queued" again
        Assert.Equal("end", next.GetProperty("id").GetString());
        Assert.Equal(id, next.GetProperty("data").GetProperty("id").GetGuid());
        Assert.Equal(0, await resumed.WaitForExitAsync());
    }

    [Fact]
    public async Task A_quiet_stream_sends_heartbeat_comments_and_a_finished_job_answers_with_its_last_event()
    {
        using var http = Client(ApiFactory.AliceKey, _idle);
        var id = await SubmitAsync(http, new { prompt = "quiet", steps = 8, width = 128, height = 128 });

        using (var response = await http.GetAsync(EventsUrl(id, _idle), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken))
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
            var lines = new List<string>();
            while (lines.Count(l => l.StartsWith(':')) < 2 && await reader.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
            {
                lines.Add(line);
            }

            Assert.Equal("event: queued", lines[1]);
            Assert.Equal(2, lines.Count(l => l == ": keep-alive"));
        }

        await http.DeleteAsync($"/v1/generations/{id}", TestContext.Current.CancellationToken);
        var text = await http.GetStringAsync(EventsUrl(id, _idle), TestContext.Current.CancellationToken);
        Assert.Equal($"id: end\nevent: cancelled\ndata: {{\"id\":\"{id}\"}}\n\n", text);
    }

    [Fact]
    public async Task Another_keys_job_an_unknown_id_and_a_bad_last_event_id_are_refused()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);
        var id = await SubmitAsync(alice, new { prompt = "alice's", steps = 2, width = 64, height = 64 });

        var theirs = await bob.GetAsync(EventsUrl(id), TestContext.Current.CancellationToken);
        var unknown = await bob.GetAsync(EventsUrl(Guid.NewGuid()), TestContext.Current.CancellationToken);
        using var badResume = new HttpRequestMessage(HttpMethod.Get, EventsUrl(id));
        badResume.Headers.TryAddWithoutValidation("Last-Event-ID", "yesterday");
        var bad = await alice.SendAsync(badResume, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
    }
}
