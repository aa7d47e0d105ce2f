using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Tests.Live;

namespace OrleansDiffusion.Api.Tests.Tenancy;

/// <summary>A job belongs to the key that submitted it: any other key meets it exactly as an unknown id (issue 10).</summary>
public sealed class JobOwnershipTests : IDisposable
{
    private const string CarolKey = "carol-admin-key";

    // Capacity 0: nothing runs, so jobs stay queued and can be read and cancelled.
    private readonly ApiFactory _factory = new(ApiFactory.WithKeys(new()
    {
        ["Diffusion:Capacity"] = "0",
        ["Diffusion:Api:Keys:2:Name"] = "carol",
        ["Diffusion:Api:Keys:2:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(CarolKey),
        ["Diffusion:Api:Keys:2:Admin"] = "true",
    }));

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task Another_key_reads_cancels_and_fetches_images_of_a_job_exactly_as_of_an_unknown_id()
    {
        using var alice = _factory.CreateClient(ApiFactory.AliceKey);
        using var bob = _factory.CreateClient(ApiFactory.BobKey);
        var id = await SubmitAsync(alice, "alice's private prompt");
        var unknown = Guid.NewGuid();

        foreach (var (method, path) in new[] { (HttpMethod.Get, ""), (HttpMethod.Delete, ""), (HttpMethod.Get, "/images/0") })
        {
            var theirs = await SendAsync(bob, method, $"/v1/generations/{id}{path}");
            var none = await SendAsync(bob, method, $"/v1/generations/{unknown}{path}");
            Assert.Equal(HttpStatusCode.NotFound, theirs.Status);
            Assert.Equal((none.Status, none.Body.Replace(unknown.ToString(), "ID")), (theirs.Status, theirs.Body.Replace(id.ToString(), "ID")));
        }

        // Bob's DELETE changed nothing: alice's job is still queued, and hers to read.
        var own = await alice.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", TestContext.Current.CancellationToken);
        Assert.Equal("queued", own.GetProperty("status").GetString());
        Assert.DoesNotContain("alice", JsonSerializer.Serialize(own), StringComparison.Ordinal); // the response names no key
    }

    [Fact]
    public async Task Another_key_cannot_watch_a_job_on_the_hub()
    {
        using var alice = _factory.CreateClient(ApiFactory.AliceKey);
        var id = await SubmitAsync(alice, "watched");
        await using var bob = await HubRecorder.ConnectAsync(_factory.Server, ApiFactory.BobKey);
        await using var owner = await HubRecorder.ConnectAsync(_factory.Server, ApiFactory.AliceKey);

        var theirs = await Assert.ThrowsAsync<HubException>(() => bob.SubscribeAsync(id));
        var unknown = Guid.NewGuid();
        var none = await Assert.ThrowsAsync<HubException>(() => bob.SubscribeAsync(unknown));
        Assert.Equal(none.Message.Replace(unknown.ToString(), "ID"), theirs.Message.Replace(id.ToString(), "ID"));

        await owner.SubscribeAsync(id);
        Assert.Equal("queued", (await owner.NextAsync()).Name);
        Assert.False(await bob.AnyWithinAsync(1), "bob receives nothing of alice's job");
    }

    [Fact]
    public async Task An_admin_key_sees_and_cancels_every_job()
    {
        using var alice = _factory.CreateClient(ApiFactory.AliceKey);
        using var carol = _factory.CreateClient(CarolKey);
        var id = await SubmitAsync(alice, "seen by the admin");

        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync($"/v1/generations/{id}", TestContext.Current.CancellationToken)).StatusCode);
        var cancelled = await carol.DeleteFromJsonAsync<JsonElement>($"/v1/generations/{id}", TestContext.Current.CancellationToken);
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        var own = await alice.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}", TestContext.Current.CancellationToken);
        Assert.Equal("cancelled", own.GetProperty("status").GetString());
    }

    private static async Task<Guid> SubmitAsync(HttpClient http, string prompt)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", new { prompt, steps = 2, width = 64, height = 64, seed = 7 }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }

    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient http, HttpMethod method, string path)
    {
        using var response = await http.SendAsync(new HttpRequestMessage(method, path), TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, Regex.Replace(body, "\"trace_?[iI]d\":\"[^\"]*\"", "\"trace_id\":\"T\"")); // unique to each request
    }
}
