using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.Api.Generations;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary><c>Prefer: wait=N</c> on <c>POST /v1/generations</c> (issue 12), over HTTP on a real port.</summary>
public sealed class PreferWaitTests
{
    private static async Task<(HttpResponseMessage Response, JsonElement Body)> PostAsync(HttpClient http, object body, string prefer)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations") { Content = JsonContent.Create(body) };
        request.Headers.TryAddWithoutValidation("Prefer", prefer);
        var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return (response, await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_job_that_finishes_within_the_wait_is_answered_200_with_its_images()
    {
        using var api = KestrelApi.Start();
        using var http = api.CreateClient();

        var (response, job) = await PostAsync(http, new { prompt = "a quick harbour", steps = 3, width = 64, height = 64, seed = 3 }, "respond-async, wait=50");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=50", string.Join(",", response.Headers.GetValues("Preference-Applied")));
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.False(job.GetProperty("cached").GetBoolean());
        var image = job.GetProperty("images")[0].GetProperty("url").GetString();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(image, TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task A_job_that_does_not_finish_in_time_is_answered_202_after_the_wait()
    {
        // Capacity 0: nothing runs.
        using var api = KestrelApi.Start(new() { ["Diffusion:Capacity"] = "0" });
        using var http = api.CreateClient();

        var clock = Stopwatch.StartNew();
        var (response, job) = await PostAsync(http, new { prompt = "never runs", steps = 3, width = 64, height = 64 }, "wait=2");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(15));
        Assert.Equal("wait=2", string.Join(",", response.Headers.GetValues("Preference-Applied")));
        Assert.Equal("queued", job.GetProperty("status").GetString());
        Assert.Equal($"/v1/generations/{job.GetProperty("id").GetGuid()}", response.Headers.Location!.ToString());

        // Without the preference: 202 at once, and no Preference-Applied.
        var (plain, _) = await PostAsync(http, new { prompt = "never runs either", steps = 3, width = 64, height = 64 }, "respond-async");
        Assert.Equal(HttpStatusCode.Accepted, plain.StatusCode);
        Assert.False(plain.Headers.Contains("Preference-Applied"));
    }

    [Fact]
    public async Task A_wait_that_is_not_a_number_of_seconds_is_400_and_creates_nothing()
    {
        using var api = KestrelApi.Start(new() { ["Diffusion:Capacity"] = "0" });
        using var http = api.CreateClient();

        var (response, problem) = await PostAsync(http, new { prompt = "bad preference", steps = 3, width = 64, height = 64 }, "wait=soon");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True(problem.GetProperty("errors").TryGetProperty("Prefer", out _));
        var list = await http.GetFromJsonAsync<JsonElement>("/v1/generations", TestContext.Current.CancellationToken);
        Assert.Equal(0, list.GetProperty("data").GetArrayLength());
    }

    [Theory]
    [InlineData("wait=10", 10)]
    [InlineData("respond-async, wait=5", 5)]
    [InlineData("wait=\"7\"; foo=bar", 7)]
    [InlineData("wait=600", PreferWait.MaxSeconds)]
    [InlineData("handling=lenient", null)]
    public void The_wait_preference_is_read_as_RFC_7240_writes_it_and_capped(string header, int? expected)
    {
        Assert.True(PreferWait.TryParse(header, out var seconds));
        Assert.Equal(expected, seconds);
    }
}
