using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace OrleansDiffusion.Api.Tests.Live;

/// <summary>The hub is no way around the API's limits: made-up ids cost the cluster nothing, and calls are rate limited (issue 10).</summary>
public sealed class GenerationHubLimitsTests
{
    [Fact]
    public async Task Subscribing_to_300_made_up_ids_fails_each_without_activating_a_job_grain_or_logging_a_stack_trace()
    {
        var logs = new LogRecorder();
        using var root = new ApiFactory(new() { ["Diffusion:Api:RequestsPerMinute"] = "1000" });
        using var factory = root.WithWebHostBuilder(web => web.ConfigureLogging(logging => logging.AddProvider(logs)));
        using var http = factory.CreateClient();
        var response = await http.PostAsJsonAsync("/v1/generations", new { prompt = "real", steps = 2, width = 64, height = 64 }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var real = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
        await using var hub = await HubRecorder.ConnectAsync(factory.Server);
        var before = await GrainActivations.CountAsync(factory.Services, "GenerationJobGrain");
        Assert.True(before > 0, "the job grain activations are counted");
        logs.Clear();

        for (var i = 0; i < 300; i++)
        {
            var madeUp = Guid.NewGuid();
            var error = await Assert.ThrowsAsync<HubException>(() => hub.SubscribeAsync(madeUp));
            Assert.Contains($"Unknown generation job {madeUp}.", error.Message, StringComparison.Ordinal);
        }

        Assert.InRange(await GrainActivations.CountAsync(factory.Services, "GenerationJobGrain"), 0, before);
        Assert.DoesNotContain(logs.Entries, e => e.Exception is not null);
        await hub.SubscribeAsync(real);
        Assert.Equal(HubConnectionState.Connected, hub.Connection.State);
    }

    [Fact]
    public async Task Hub_calls_draw_on_the_keys_read_budget_and_over_it_are_refused_on_a_connection_that_stays_open()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:Api:ReadsPerMinute"] = "5" }));
        using var aliceHttp = factory.CreateClient(ApiFactory.AliceKey);
        await using var alice = await HubRecorder.ConnectAsync(factory.Server, ApiFactory.AliceKey);
        await using var bob = await HubRecorder.ConnectAsync(factory.Server, ApiFactory.BobKey);
        var cancel = TestContext.Current.CancellationToken;

        // Five in a minute, however they come: two HTTP requests and three hub calls.
        Assert.Equal(HttpStatusCode.OK, (await aliceHttp.GetAsync("/v1/models", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await aliceHttp.GetAsync("/v1/models", cancel)).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            var unknown = await Assert.ThrowsAsync<HubException>(() => alice.SubscribeAsync(Guid.NewGuid()));
            Assert.Contains("Unknown generation job", unknown.Message, StringComparison.Ordinal);
        }

        var limited = await Assert.ThrowsAsync<HubException>(() => alice.SubscribeAsync(Guid.NewGuid()));
        Assert.Contains("Rate limit reached for this API key; retry in", limited.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await aliceHttp.GetAsync("/v1/models", cancel)).StatusCode);

        // The connection is still there and answers; bob's budget is his own.
        Assert.Equal(HubConnectionState.Connected, alice.Connection.State);
        var again = await Assert.ThrowsAsync<HubException>(() => alice.Connection.InvokeAsync("Unsubscribe", Guid.NewGuid(), cancel));
        Assert.Contains("Rate limit reached for this API key", again.Message, StringComparison.Ordinal);
        var bobs = await Assert.ThrowsAsync<HubException>(() => bob.SubscribeAsync(Guid.NewGuid()));
        Assert.Contains("Unknown generation job", bobs.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_fault_in_a_hub_call_is_logged_with_its_stack_trace_and_answered_as_a_retriable_HubException()
    {
        // A gateway client of a co-hosted API; the cluster then goes away under it.
        var siloPort = ApiFactory.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var gatewayPort = ApiFactory.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var cluster = new ApiFactory(new()
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:Cluster:SiloPort"] = siloPort,
            ["Diffusion:Cluster:PrimarySiloPort"] = siloPort,
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
        });
        using (cluster.CreateClient())
        {
        }

        var logs = new LogRecorder();
        using var root = new ApiFactory(new() { ["Diffusion:Api:Mode"] = "Client", ["Diffusion:Cluster:GatewayPort"] = gatewayPort });
        using var client = root.WithWebHostBuilder(web => web.ConfigureLogging(logging => logging.AddProvider(logs)));
        using var http = client.CreateClient();
        var response = await http.PostAsJsonAsync("/v1/generations", new { prompt = "orphaned", steps = 2, width = 64, height = 64 }, TestContext.Current.CancellationToken);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
        await using var hub = await HubRecorder.ConnectAsync(client.Server);
        await cluster.DisposeAsync();

        var error = await Assert.ThrowsAsync<HubException>(() => hub.SubscribeAsync(id));

        Assert.Contains("'Subscribe' failed on the server; retry in a few seconds.", error.Message, StringComparison.Ordinal);
        var logged = Assert.Single(logs.Entries, e => e.Exception is not null && e.Category.EndsWith("HubErrorFilter", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Equal(HubConnectionState.Connected, hub.Connection.State);
    }
}
