using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Native;

public sealed class SecurityAndLimitsTests
{
    private static object Body(string prompt = "x") => new { prompt, steps = 2, width = 64, height = 64, seed = 1 };

    [Fact]
    public async Task With_keys_configured_requests_need_a_valid_key()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys());
        using var anonymous = factory.CreateClient(bearer: null);
        using var wrong = factory.CreateClient("not-a-key");
        using var alice = factory.CreateClient(ApiFactory.AliceKey);

        var none = await anonymous.PostAsJsonAsync("/v1/generations", Body(), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.PostAsJsonAsync("/v1/generations", Body(), TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/models", TestContext.Current.CancellationToken)).StatusCode);

        Assert.Equal(HttpStatusCode.Accepted, (await alice.PostAsJsonAsync("/v1/generations", Body(), TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task The_rate_limits_are_per_key_and_say_when_to_retry()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:Api:RequestsPerMinute"] = "3", ["Diffusion:Api:ReadsPerMinute"] = "3" }));
        using var alice = factory.CreateClient(ApiFactory.AliceKey);
        using var bob = factory.CreateClient(ApiFactory.BobKey);
        var cancel = TestContext.Current.CancellationToken;

        // Submissions (an invalid one still counts: the limit comes before the body is read) and reads, three of each.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await alice.PostAsJsonAsync("/v1/generations", new { prompt = "" }, cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/v1/models", cancel)).StatusCode);
        }

        foreach (var limited in new[] { await alice.PostAsJsonAsync("/v1/generations", Body(), cancel), await alice.GetAsync("/v1/models", cancel) })
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }

        Assert.Equal(HttpStatusCode.OK, (await bob.GetAsync("/v1/models", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await bob.PostAsJsonAsync("/v1/generations", Body(), cancel)).StatusCode);
    }

    [Fact]
    public async Task Polling_a_job_spends_the_read_budget_and_never_the_submit_budget()
    {
        // The defaults: 120 submissions and 1200 reads a minute per key. Capacity 0: the job stays queued.
        using var factory = new ApiFactory(new() { ["Diffusion:Capacity"] = "0" });
        using var http = factory.CreateClient();
        var cancel = TestContext.Current.CancellationToken;
        var submitted = await http.PostAsJsonAsync("/v1/generations", Body("polled"), cancel);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var defaults = new Api.Hosting.ApiOptions();

        // Three minutes of polling once a second, in a few seconds: over the submit budget, well inside the read budget.
        for (var i = 0; i < 180; i++)
        {
            using var read = await http.GetAsync(submitted.Headers.Location, cancel);
            Assert.True(read.StatusCode == HttpStatusCode.OK, $"read {i + 1} answered {(int)read.StatusCode}");
        }

        // Submissions are limited all the same: the budget's remaining 119 pass, the next one does not.
        for (var i = 1; i < defaults.RequestsPerMinute; i++)
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/v1/generations", new { prompt = "" }, cancel)).StatusCode);
        }

        var refused = await http.PostAsJsonAsync("/v1/generations", Body("one too many"), cancel);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(submitted.Headers.Location, cancel)).StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_concurrent_job_quota_gets_429()
    {
        // Capacity 0: nothing runs, so jobs stay queued.
        using var factory = new ApiFactory(new() { ["Diffusion:Capacity"] = "0", ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "2" });
        using var http = factory.CreateClient();

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/v1/generations", Body("one"), TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/v1/generations", Body("two"), TestContext.Current.CancellationToken)).StatusCode);
        var third = await http.PostAsJsonAsync("/v1/generations", Body("three"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.Equal("application/problem+json", third.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_concurrent_job_quota_holds_across_API_processes()
    {
        // Two API processes on one cluster: a co-hosted silo that runs nothing, and a gateway client of it.
        var siloPort = ApiFactory.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var gatewayPort = ApiFactory.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var first = new ApiFactory(new()
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "2",
            ["Diffusion:Cluster:SiloPort"] = siloPort,
            ["Diffusion:Cluster:PrimarySiloPort"] = siloPort,
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
        });
        using var a = first.CreateClient();
        using var second = new ApiFactory(new()
        {
            ["Diffusion:Api:Mode"] = "Client",
            ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "2",
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
        });
        using var b = second.CreateClient();
        var cancel = TestContext.Current.CancellationToken;

        var one = await a.PostAsJsonAsync("/v1/generations", Body("one"), cancel);
        Assert.Equal(HttpStatusCode.Accepted, one.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await b.PostAsJsonAsync("/v1/generations", Body("two"), cancel)).StatusCode);

        Assert.Equal(HttpStatusCode.TooManyRequests, (await b.PostAsJsonAsync("/v1/generations", Body("three"), cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await a.PostAsJsonAsync("/v1/generations", Body("four"), cancel)).StatusCode);

        // A finished job frees its place, whichever process accepted it and whichever finished it.
        Assert.True((await b.DeleteAsync(one.Headers.Location, cancel)).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await b.PostAsJsonAsync("/v1/generations", Body("five"), cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await a.PostAsJsonAsync("/v1/generations", Body("six"), cancel)).StatusCode);
    }

    [Fact]
    public async Task A_full_queue_refuses_new_work_with_503()
    {
        // One partition: with several, each holds MaxQueueLength / partitions rounded up, and whether two requests meet
        // in one depends on their request keys' hashes.
        using var factory = new ApiFactory(new() { ["Diffusion:Capacity"] = "0", ["Diffusion:MaxQueueLength"] = "1", ["Diffusion:QueuePartitions"] = "1" });
        using var http = factory.CreateClient();

        var first = await http.PostAsJsonAsync("/v1/generations", Body("first"), TestContext.Current.CancellationToken);
        var second = await http.PostAsJsonAsync("/v1/generations", Body("second"), TestContext.Current.CancellationToken);
        var duplicate = await http.PostAsJsonAsync("/v1/generations", Body("first"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.Accepted, duplicate.StatusCode); // it joins the queued identical request
        var job = await duplicate.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("queued", job.GetProperty("status").GetString());
        Assert.Equal(0, job.GetProperty("queue_position").GetInt32());
    }
}
