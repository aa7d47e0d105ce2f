using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Live;

public sealed class GenerationHubAuthTests : IDisposable
{
    private readonly ApiFactory _factory = new(ApiFactory.WithKeys());

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task The_hub_requires_an_api_key_like_the_api()
    {
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => HubRecorder.ConnectAsync(_factory.Server));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        await Assert.ThrowsAsync<HttpRequestException>(() => HubRecorder.ConnectAsync(_factory.Server, accessToken: "wrong-key"));

        using var http = _factory.CreateClient(ApiFactory.AliceKey);
        var response = await http.PostAsJsonAsync("/v1/generations", new { prompt = "keyed", steps = 2, width = 64, height = 64 }, TestContext.Current.CancellationToken);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();

        // The .NET client sends the token as a Bearer header; browsers send it as access_token in the query.
        await using var hub = await HubRecorder.ConnectAsync(_factory.Server, accessToken: ApiFactory.AliceKey);
        await hub.SubscribeAsync(id);
        Assert.Equal("completed", (await hub.UntilTerminalAsync())[^1].Name);

        using var anonymous = _factory.CreateClient();
        var negotiate = await anonymous.PostAsync($"/hubs/generations/negotiate?negotiateVersion=1&access_token={ApiFactory.BobKey}", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, negotiate.StatusCode);
    }
}
