using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary>No small request may cost a lot: the quota and the scaling signal count units, joins and hits are free, uploads decode once.</summary>
public sealed class CostLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static object Body(string prompt, int steps, int side = 512, int n = 1) =>
        new { prompt, steps, width = side, height = side, n, seed = 1 };

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, object body) => http.PostAsJsonAsync("/v1/generations", body, Ct);

    private static string[] InputFiles(ApiFactory factory)
    {
        var inputs = Path.Combine(factory.ImagesDirectory, "inputs");
        return Directory.Exists(inputs) ? Directory.GetFiles(inputs) : [];
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, Ct);
            if (job.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
            {
                return job;
            }

            await Task.Delay(50, Ct);
        }
    }

    private static async Task<int> InferencesOfAsync(ApiFactory factory, string location)
    {
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var snapshot = await grains.GetGrain<IGenerationJobGrain>(Guid.Parse(location.Split('/')[^1])).GetSnapshot();
        return (await grains.GetGrain<IResultCacheGrain>(snapshot.RequestKey!).GetEntry()).Inferences;
    }

    [Fact]
    public async Task The_quota_counts_units_so_two_small_jobs_fit_where_one_huge_does_not()
    {
        // Capacity 0: nothing runs, so the work stays in progress. 100 units each: 512 x 512 at 40 steps is 40 units.
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0", ["Diffusion:Api:MaxConcurrentUnitsPerKey"] = "100" }));
        using var alice = factory.CreateClient(ApiFactory.AliceKey);
        using var bob = factory.CreateClient(ApiFactory.BobKey);

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(bob, Body("small one", 40))).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(bob, Body("small two", 40))).StatusCode);

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(alice, Body("huge", 90))).StatusCode);
        var refused = await PostAsync(alice, Body("small after the huge one", 40));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("90 units", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // More than the whole quota can never run: a 400 that says so, not a 429 to retry.
        var tooBig = await PostAsync(bob, Body("too big", 150, n: 1));
        Assert.Equal(HttpStatusCode.BadRequest, tooBig.StatusCode);
        var detail = (await tooBig.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString();
        Assert.Contains("costs 150 units", detail, StringComparison.Ordinal);
        Assert.Contains("100 units", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Identical_concurrent_requests_from_one_key_all_succeed_and_run_one_inference()
    {
        // A quota of one unit: the first request's inference takes all of it. Joins and cache hits add no work.
        using var factory = new ApiFactory(new() { ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "1", ["Diffusion:Api:RequestsPerMinute"] = "100000" });
        using var http = factory.CreateClient();
        var body = Body("forty at once", 4, side: 64);

        var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => PostAsync(http, body)));

        Assert.All(burst, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        var jobs = await Task.WhenAll(burst.Select(r => WaitAsync(http, r.Headers.Location!.ToString())));
        Assert.All(jobs, j => Assert.Equal("succeeded", j.GetProperty("status").GetString()));
        Assert.Equal(1, await InferencesOfAsync(factory, burst[0].Headers.Location!.ToString()));

        // The same forty again: answered from the cache, at once.
        var again = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => PostAsync(http, body)));
        Assert.All(again, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        var hits = await Task.WhenAll(again.Select(r => r.Content.ReadFromJsonAsync<JsonElement>(Ct)));
        Assert.All(hits, j => Assert.True(j.GetProperty("cached").GetBoolean()));

        // Forty synchronous OpenAI requests for a new image: all get it.
        var images = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => http.PostAsJsonAsync(
            "/v1/images/generations", new { prompt = "forty more", size = "64x64", steps = 4, seed = 2, response_format = "b64_json" }, Ct)));
        foreach (var response in images)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var data = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("data");
            Assert.False(string.IsNullOrEmpty(Assert.Single(data.EnumerateArray()).GetProperty("b64_json").GetString()));
        }
    }

    [Fact]
    public async Task Distinct_big_requests_from_one_key_are_still_limited()
    {
        // With keys configured, the default quota; 512 x 512 at 150 steps is 150 units.
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0" }));
        using var alice = factory.CreateClient(ApiFactory.AliceKey);
        var expected = new ApiOptions().MaxConcurrentUnitsPerKey / 150;

        var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => PostAsync(alice, Body($"distinct {i}", 150))));

        Assert.Equal(expected, burst.Count(r => r.StatusCode == HttpStatusCode.Accepted));
        Assert.Equal(40 - expected, burst.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task The_one_local_user_may_run_the_largest_request_and_is_still_limited()
    {
        // No key: the anonymous loopback user. The largest request (8 images x 150 steps at 1024 x 1024) is 4800 units.
        using var factory = new ApiFactory(new() { ["Diffusion:Capacity"] = "0" });
        using var http = factory.CreateClient();
        var expected = new ApiOptions().MaxConcurrentUnitsAnonymous / 4800;
        Assert.True(expected >= 1);

        var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => PostAsync(http, Body($"largest {i}", 150, side: 1024, n: 8))));

        Assert.Equal(expected, burst.Count(r => r.StatusCode == HttpStatusCode.Accepted));
        Assert.Equal(40 - expected, burst.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task A_refused_img2img_request_leaves_no_file_in_the_image_store()
    {
        // Nothing runs; one queue partition holding one request; five units.
        using var factory = new ApiFactory(new()
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:QueuePartitions"] = "1",
            ["Diffusion:MaxQueueLength"] = "1",
            ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "5",
        });
        using var http = factory.CreateClient();
        var image = "data:image/png;base64," + Convert.ToBase64String(HostilePngs.Gradient(64, 64));
        object Img2img(string prompt, int steps, int side = 64, double strength = 0.5) =>
            new { prompt, steps, width = side, height = side, seed = 1, init_image = image, strength };

        var queued = await PostAsync(http, Body("fills the queue", 4, side: 64));
        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);

        // Refused after the request passed the API's own checks: by the model's bounds, the quota, the queue.
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(http, Img2img("runs no step", steps: 1))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(http, Img2img("over the whole quota", steps: 6, side: 512))).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostAsync(http, Img2img("over what is left", steps: 5, side: 512))).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await PostAsync(http, Img2img("queue full", steps: 4))).StatusCode);
        Assert.Empty(InputFiles(factory));

        // Accepted, it is stored, normalised to the requested size.
        Assert.True((await http.DeleteAsync(queued.Headers.Location, Ct)).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, Img2img("accepted", steps: 4, side: 128))).StatusCode);
        var stored = await File.ReadAllBytesAsync(Assert.Single(InputFiles(factory)), Ct);
        Assert.Equal(128 * 128 * 3, NormalizedImage.ToChw(stored, 128, 128).Length);
    }

    [Fact]
    public async Task A_png_whose_ztxt_chunk_inflates_to_128_MB_is_taken_fast_and_the_worker_gets_normalised_pixels()
    {
        using var factory = new ApiFactory(new() { ["Diffusion:Api:RequestsPerMinute"] = "100000" });
        using var http = factory.CreateClient();
        var clean = HostilePngs.Gradient(64, 64);
        var hostile = HostilePngs.WithZtxtBomb(clean, 128L << 20);
        Assert.InRange(hostile.Length, 100_000, 200_000);
        object Body(byte[] png, long seed) => new { prompt = "a bomb", steps = 4, width = 64, height = 64, seed, init_image = Convert.ToBase64String(png), strength = 0.5, scheduler = "ddim" };

        // The clean image first: it pays for the JIT and the grains, and its pixels are the hostile one's.
        var warm = await PostAsync(http, Body(clean, seed: 3));
        Assert.Equal(HttpStatusCode.Accepted, warm.StatusCode);

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var response = await PostAsync(http, Body(hostile, seed: 4));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        // Inflating the text would take 128 MB at least (ImageSharp makes a string of it: gigabytes in all), and seconds.
        Assert.True(allocated < 64L << 20, $"the request allocated {allocated >> 20} MB");
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"the request took {elapsed}");

        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());

        // One input for both: the metadata is gone and the pixels are the same, so is the content key.
        var stored = await File.ReadAllBytesAsync(Assert.Single(InputFiles(factory)), Ct);
        Assert.Equal(NormalizedImage.LengthOf(64, 64), stored.Length);
        Assert.Equal(InitImageLoader.Normalize(clean, 64, 64), stored);
    }
}
