using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Hardening;

/// <summary>
/// Job ids carry a MAC under the cluster's job-id key: a made-up or altered id is unknown before any grain is called,
/// and every API process of the cluster recognises the ids the others made (issue 10).
/// </summary>
public sealed class JobIdTests
{
    private static object Body(string prompt) => new { prompt, steps = 2, width = 64, height = 64, seed = 1 };

    [Fact]
    public async Task A_made_up_or_altered_job_id_is_404_on_every_path_without_activating_a_job_grain()
    {
        // Capacity 0: the real job stays queued, so that its grain stays active and counted.
        using var factory = new ApiFactory(new() { ["Diffusion:Capacity"] = "0", ["Diffusion:Api:RequestsPerMinute"] = "1000" });
        using var http = factory.CreateClient();
        var cancel = TestContext.Current.CancellationToken;
        var id = await SubmitAsync(http, "real");
        var before = await GrainActivations.CountAsync(factory.Services, "GenerationJobGrain");
        Assert.True(before > 0, "the job grain activations are counted");

        var bytes = id.ToByteArray();
        bytes[15] ^= 1;
        var altered = new Guid(bytes);
        foreach (var madeUp in Enumerable.Range(0, 50).Select(_ => Guid.NewGuid()).Append(altered))
        {
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/generations/{madeUp}", cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"/v1/generations/{madeUp}", cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/generations/{madeUp}/images/0", cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/generations/{madeUp}/events", cancel)).StatusCode);
        }

        Assert.InRange(await GrainActivations.CountAsync(factory.Services, "GenerationJobGrain"), 0, before);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/v1/generations/{id}", cancel)).StatusCode);
    }

    [Fact]
    public async Task Every_API_process_of_a_cluster_recognises_the_ids_the_others_made()
    {
        var siloPort = ApiFactory.FreePort().ToString(CultureInfo.InvariantCulture);
        var gatewayPort = ApiFactory.FreePort().ToString(CultureInfo.InvariantCulture);
        using var first = new ApiFactory(new()
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:Cluster:SiloPort"] = siloPort,
            ["Diffusion:Cluster:PrimarySiloPort"] = siloPort,
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
        });
        using var a = first.CreateClient();
        using var second = new ApiFactory(new() { ["Diffusion:Api:Mode"] = "Client", ["Diffusion:Cluster:GatewayPort"] = gatewayPort });
        using var b = second.CreateClient();
        var cancel = TestContext.Current.CancellationToken;

        var fromA = await SubmitAsync(a, "made by the co-hosted API");
        var fromB = await SubmitAsync(b, "made by the gateway client");

        Assert.Equal("queued", (await b.GetFromJsonAsync<JsonElement>($"/v1/generations/{fromA}", cancel)).GetProperty("status").GetString());
        Assert.Equal("queued", (await a.GetFromJsonAsync<JsonElement>($"/v1/generations/{fromB}", cancel)).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/v1/generations/{Guid.NewGuid()}", cancel)).StatusCode);
    }

    private static async Task<Guid> SubmitAsync(HttpClient http, string prompt)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", Body(prompt), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }
}
