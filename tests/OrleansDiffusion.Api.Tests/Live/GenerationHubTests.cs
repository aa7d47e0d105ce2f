using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Tests.Live;

public sealed class GenerationHubTests : IDisposable
{
    // A preview at every step, so that a short job still shows some.
    private readonly ApiFactory _factory = new(new() { ["Diffusion:PreviewInterval"] = "1" });

    public void Dispose() => _factory.Dispose();

    private async Task<Guid> SubmitAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", body, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }

    private JobEventRelay Relay => _factory.Services.GetRequiredService<JobEventRelay>();

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.True(condition());
    }

    [Fact]
    public async Task A_subscriber_sees_start_progress_with_previews_and_completion_in_order()
    {
        using var http = _factory.CreateClient();
        await using var hub = await HubRecorder.ConnectAsync(_factory.Server);

        // The silo runs one generation at a time: a long job in front keeps ours queued until we have subscribed.
        var blocker = await SubmitAsync(http, new { prompt = "in front", steps = 150, width = 1024, height = 1024, n = 4 });
        var id = await SubmitAsync(http, new { prompt = "a lighthouse", steps = 24, width = 256, height = 256, seed = 3 });
        await hub.SubscribeAsync(id);
        Assert.Equal("queued", (await hub.NextAsync()).Name);
        await http.DeleteAsync($"/v1/generations/{blocker}", TestContext.Current.CancellationToken);
        var events = await hub.UntilTerminalAsync();

        var names = string.Join(' ', events.Select(e => e.Name));
        Assert.Matches("^(queued )+started (progress )+completed$", names);
        var steps = events.Where(e => e.Name == "progress").Select(e => e.Payload.GetProperty("step").GetInt32()).ToList();
        Assert.Equal(steps.Order().Distinct(), steps);
        // The scheduler decides the exact count (the spec's steps, give or take one); it does not change within a run.
        var totals = events.Where(e => e.Name == "progress").Select(e => e.Payload.GetProperty("steps").GetInt32()).Distinct().ToList();
        Assert.InRange(Assert.Single(totals), 24, 25);
        Assert.Contains(events, e => e.Name == "progress" && e.Payload.GetProperty("preview").GetString() is { } preview && preview.StartsWith("data:image/jpeg;base64,", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Name == "progress" && e.Payload.GetProperty("eta").ValueKind == JsonValueKind.Number);

        var completed = events[^1].Payload;
        Assert.Equal(id, completed.GetProperty("id").GetGuid());
        var image = Assert.Single(completed.GetProperty("images").EnumerateArray());
        Assert.Equal((3L, 256, 256), (image.GetProperty("seed").GetInt64(), image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
        var url = image.GetProperty("url").GetString()!;
        Assert.StartsWith(_factory.Server.BaseAddress.ToString().TrimEnd('/') + $"/v1/generations/{id}/images/0", url, StringComparison.Ordinal);
        Assert.Equal("image/png", (await http.GetAsync(url, TestContext.Current.CancellationToken)).Content.Headers.ContentType?.MediaType);

        // The job is over: the relay let go of it.
        await WaitUntilAsync(() => Relay.ObservedJobs == 0);
    }

    [Fact]
    public async Task A_late_subscriber_gets_the_completed_event_first()
    {
        using var http = _factory.CreateClient();
        var id = await SubmitAsync(http, new { prompt = "late", steps = 4, width = 64, height = 64, seed = 5 });
        await WaitUntilAsync(() => http.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}").Result.GetProperty("status").GetString() == "succeeded");

        await using var hub = await HubRecorder.ConnectAsync(_factory.Server, transport: HttpTransportType.WebSockets);
        await hub.SubscribeAsync(id);

        var (name, payload) = await hub.NextAsync();
        Assert.Equal("completed", name);
        Assert.Equal(5L, payload.GetProperty("images")[0].GetProperty("seed").GetInt64());
        Assert.False(await hub.AnyWithinAsync(0.5));
        Assert.Equal(0, Relay.ObservedJobs);
    }

    [Fact]
    public async Task Cancelling_a_running_job_sends_cancelled()
    {
        using var http = _factory.CreateClient();
        await using var hub = await HubRecorder.ConnectAsync(_factory.Server);
        var id = await SubmitAsync(http, new { prompt = "cancel me", steps = 150, width = 512, height = 512 });
        await hub.SubscribeAsync(id);
        Assert.Contains((await hub.NextAsync()).Name, new[] { "queued", "started" });

        Assert.Equal(HttpStatusCode.OK, (await http.DeleteAsync($"/v1/generations/{id}", TestContext.Current.CancellationToken)).StatusCode);

        var events = await hub.UntilTerminalAsync();
        Assert.Equal("cancelled", events[^1].Name);
        Assert.Equal(id, events[^1].Payload.GetProperty("id").GetGuid());
        await WaitUntilAsync(() => Relay.ObservedJobs == 0);
    }

    [Fact]
    public async Task Events_older_than_the_last_applied_are_dropped_and_one_observer_serves_all_connections()
    {
        using var http = _factory.CreateClient();
        await using var first = await HubRecorder.ConnectAsync(_factory.Server);
        await using var second = await HubRecorder.ConnectAsync(_factory.Server);
        var id = await SubmitAsync(http, new { prompt = "ordering", steps = 150, width = 512, height = 512 });
        await first.SubscribeAsync(id);
        await second.SubscribeAsync(id);
        Assert.Equal(1, Relay.ObservedJobs);

        // Drive the feed by hand with events numbered past anything the real owner will number for minutes: step 140,
        // then a late step 120, a late start and a late queued (lower numbers), then the end.
        var snapshot = await _factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IGenerationJobGrain>(id).GetSnapshot();
        var ahead = DateTimeOffset.UtcNow.AddMinutes(10).UtcTicks;
        InferenceEvent Event(long seq, InferenceEventKind kind, int step = 0, byte[]? preview = null) =>
            new() { Key = snapshot.RequestKey!, Seq = ahead + seq, Kind = kind, Step = step, TotalSteps = 150, Preview = preview, Job = kind == InferenceEventKind.Left ? id : null };
        await Relay.DeliverAsync(id, Event(10, InferenceEventKind.Progress, 140, [1, 2, 3]));
        await Relay.DeliverAsync(id, Event(8, InferenceEventKind.Progress, 120, [4]));
        await Relay.DeliverAsync(id, Event(5, InferenceEventKind.Started));
        await Relay.DeliverAsync(id, Event(4, InferenceEventKind.Queued));
        await Relay.DeliverAsync(id, Event(11, InferenceEventKind.Left));
        await http.DeleteAsync($"/v1/generations/{id}", TestContext.Current.CancellationToken);

        foreach (var hub in new[] { first, second })
        {
            var events = await hub.UntilTerminalAsync();
            var steps = events.Where(e => e.Name == "progress").Select(e => e.Payload.GetProperty("step").GetInt32()).ToList();
            Assert.Equal(140, steps[^1]);
            Assert.Equal(steps.Order().Distinct(), steps);
            Assert.Single(events, e => e.Name == "started");
            Assert.DoesNotContain(events.SkipWhile(e => e.Name == "queued"), e => e.Name == "queued");
            Assert.Contains(events, e => e.Name == "progress" && e.Payload.GetProperty("preview").GetString() == "data:image/jpeg;base64,AQID");
            Assert.Equal("cancelled", events[^1].Name);
        }

        await WaitUntilAsync(() => Relay.ObservedJobs == 0);
    }

    [Fact]
    public async Task Unsubscribing_or_leaving_releases_the_observer()
    {
        using var http = _factory.CreateClient();
        var id = await SubmitAsync(http, new { prompt = "leave", steps = 150, width = 512, height = 512 });
        var hub = await HubRecorder.ConnectAsync(_factory.Server);
        await using var other = await HubRecorder.ConnectAsync(_factory.Server);
        await hub.SubscribeAsync(id);
        await other.SubscribeAsync(id);

        await other.Connection.InvokeAsync("Unsubscribe", id, TestContext.Current.CancellationToken);
        Assert.Equal(1, Relay.ObservedJobs);
        await hub.DisposeAsync();
        await WaitUntilAsync(() => Relay.ObservedJobs == 0);

        await http.DeleteAsync($"/v1/generations/{id}", TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Subscribing_to_an_unknown_job_is_a_clear_error()
    {
        await using var hub = await HubRecorder.ConnectAsync(_factory.Server);
        var unknown = Guid.NewGuid();

        var error = await Assert.ThrowsAsync<HubException>(() => hub.SubscribeAsync(unknown));

        Assert.Contains($"Unknown generation job {unknown}", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, Relay.ObservedJobs);
    }
}
