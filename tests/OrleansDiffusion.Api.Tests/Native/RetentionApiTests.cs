using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Grains.Retention;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary>
/// Retention over HTTP with the co-hosted silo: short periods (job records and results 10 s), the sweep run by hand.
/// A job past its period answers 404; after the sweep the same request is computed again and its image served.
/// </summary>
public sealed class RetentionApiTests : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(10);

    private readonly ApiFactory _factory = new(new Dictionary<string, string>
    {
        ["Diffusion:Retention:Jobs"] = "00:00:10",
        ["Diffusion:Retention:Results"] = "00:00:10",
        ["Diffusion:Retention:Inputs"] = "00:00:10",
        ["Diffusion:Retention:SweepInterval"] = "1.00:00:00",
    });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task A_job_past_its_period_answers_404_and_the_same_request_is_computed_again_after_the_sweep()
    {
        using var http = _factory.CreateClient();
        var request = new { prompt = "kept for ten seconds", steps = 4, width = 64, height = 64, seed = 21 };

        var first = await RunAsync(http, request);
        Assert.False(first.GetProperty("cached").GetBoolean());
        var location = $"/v1/generations/{first.GetProperty("id").GetString()}";
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(location + "/images/0", Ct)).StatusCode);

        // Past both periods: the job's (from its creation) and its result's (from the inference's end).
        await UntilAsync(first.GetProperty("completed_at").GetDateTimeOffset() + Period + TimeSpan.FromMilliseconds(200));

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(location, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(location + "/images/0", Ct)).StatusCode);
        await _factory.Services.GetRequiredService<RetentionMarker>().FlushAsync(Ct); // long written by now, in any case
        var report = await _factory.Services.GetRequiredService<RetentionSweeper>().SweepAsync(DateTimeOffset.UtcNow, Ct);
        Assert.Equal((1, 1, 1), (report.JobsDeleted, report.ResultsExpired, report.ImagesDeleted));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_factory.ImagesDirectory, "images")));

        var again = await RunAsync(http, request);

        Assert.False(again.GetProperty("cached").GetBoolean());
        var image = await http.GetAsync($"/v1/generations/{again.GetProperty("id").GetString()}/images/0", Ct);
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
        var metrics = await http.GetStringAsync("/metrics", Ct);
        Assert.Matches(@"(?m)^diffusion_retention_deleted_total\{[^}]*kind=""jobs""[^}]*\} 1(\s|$)", metrics);
    }

    [Fact]
    public async Task An_image_that_is_no_longer_stored_answers_404_with_a_problem_that_says_so()
    {
        using var http = _factory.CreateClient();
        var job = await RunAsync(http, new { prompt = "lost by hand", steps = 4, width = 64, height = 64, seed = 22 });
        foreach (var file in Directory.EnumerateFiles(Path.Combine(_factory.ImagesDirectory, "images")))
        {
            File.Delete(file);
        }

        var response = await http.GetAsync($"/v1/generations/{job.GetProperty("id").GetString()}/images/0", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("no longer stored", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> RunAsync(HttpClient http, object request)
    {
        var response = await http.PostAsync("/v1/generations", JsonContent.Create(request), Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = response.Headers.Location!.ToString();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, Ct);
            if (job.GetProperty("status").GetString() == "succeeded")
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"still {job.GetProperty("status").GetString()} after a minute");
            await Task.Delay(50, Ct);
        }
    }

    private static async Task UntilAsync(DateTimeOffset at)
    {
        var wait = at - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Ct);
        }
    }
}
