using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary>
/// Idempotent submission (issue 12): an <c>Idempotency-Key</c> on <c>POST /v1/generations</c> and Cog's
/// <c>PUT /v1/generations/{id}</c> name a job per API key, over HTTP on a real port.
/// </summary>
public sealed class IdempotencyTests : IDisposable
{
    // Capacity 0: nothing runs, so jobs stay queued and a retry meets the job as it was left.
    private readonly KestrelApi _api = KestrelApi.Start(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0" }));

    public void Dispose() => _api.Dispose();

    private HttpClient Client(string key)
    {
        var http = _api.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, object body, string? idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        }

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PutAsync(HttpClient http, string id, object body)
    {
        using var response = await http.PutAsJsonAsync($"/v1/generations/{id}", body, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken));
    }

    private static async Task<int> CountJobsAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>("/v1/generations?limit=50", TestContext.Current.CancellationToken)).GetProperty("data").GetArrayLength();

    [Fact]
    public async Task The_same_idempotency_key_and_body_return_the_same_job_and_another_body_is_422()
    {
        using var alice = Client(ApiFactory.AliceKey);
        var body = new { prompt = "a retried lighthouse", steps = 4, width = 64, height = 64 }; // no seed: a random one

        var first = await PostAsync(alice, body, "order-42");
        var retry = await PostAsync(alice, body, "order-42");
        var other = await PostAsync(alice, body, "order-43");

        Assert.Equal(HttpStatusCode.Accepted, first.Status);
        Assert.Equal(HttpStatusCode.Accepted, retry.Status);
        Assert.Equal(first.Body.GetProperty("id").GetGuid(), retry.Body.GetProperty("id").GetGuid());
        Assert.Equal(first.Body.GetProperty("seed").GetInt64(), retry.Body.GetProperty("seed").GetInt64()); // the random seed is the job's, not redrawn
        Assert.Equal(first.Body.GetProperty("created_at").GetDateTimeOffset(), retry.Body.GetProperty("created_at").GetDateTimeOffset());
        Assert.NotEqual(first.Body.GetProperty("id").GetGuid(), other.Body.GetProperty("id").GetGuid());
        Assert.Equal(2, await CountJobsAsync(alice));

        var changed = await PostAsync(alice, new { prompt = "another prompt", steps = 4, width = 64, height = 64 }, "order-42");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, changed.Status);
        Assert.Equal("Idempotency key reused", changed.Body.GetProperty("title").GetString());
        Assert.Equal(2, await CountJobsAsync(alice)); // nothing was created or changed
        var job = await alice.GetFromJsonAsync<JsonElement>($"/v1/generations/{first.Body.GetProperty("id").GetGuid()}", TestContext.Current.CancellationToken);
        Assert.Equal(first.Body.GetProperty("seed").GetInt64(), job.GetProperty("seed").GetInt64());
        Assert.Equal("queued", job.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_uuid_idempotency_key_dedupes_but_does_not_address_the_job()
    {
        using var alice = Client(ApiFactory.AliceKey);
        var body = new { prompt = "uuid keyed", steps = 4, width = 64, height = 64 };
        const string key = "0f8fad5b-d9cb-469f-a165-70867728950e";

        var first = await PostAsync(alice, body, key);
        var retry = await PostAsync(alice, body, key);

        Assert.Equal(first.Body.GetProperty("id").GetGuid(), retry.Body.GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync($"/v1/generations/{key}", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(1, await CountJobsAsync(alice));
    }

    [Fact]
    public async Task An_idempotency_key_is_per_api_key()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);
        var body = new { prompt = "shared name", steps = 4, width = 64, height = 64, seed = 5 };

        var hers = await PostAsync(alice, body, "job-1");
        var his = await PostAsync(bob, body, "job-1");
        var differentForBob = await PostAsync(bob, new { prompt = "bob's own", steps = 4, width = 64, height = 64 }, "job-2");

        Assert.Equal(HttpStatusCode.Accepted, his.Status);
        Assert.NotEqual(hers.Body.GetProperty("id").GetGuid(), his.Body.GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.Accepted, differentForBob.Status);

        // Each key's name reaches its own job; alice's job id is still hers only.
        Assert.Equal(hers.Body.GetProperty("id").GetGuid(), (await alice.GetFromJsonAsync<JsonElement>("/v1/generations/job-1", TestContext.Current.CancellationToken)).GetProperty("id").GetGuid());
        Assert.Equal(his.Body.GetProperty("id").GetGuid(), (await bob.GetFromJsonAsync<JsonElement>("/v1/generations/job-1", TestContext.Current.CancellationToken)).GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync($"/v1/generations/{hers.Body.GetProperty("id").GetGuid()}", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync("/v1/generations/job-2", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Put_with_a_client_id_creates_the_job_once_and_the_id_addresses_it_for_its_key_only()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);
        var body = new { prompt = "a cog prediction", steps = 4, width = 64, height = 64 };

        var created = await PutAsync(alice, "pred-7f3a", body);
        var again = await PutAsync(alice, "pred-7f3a", body);
        var changed = await PutAsync(alice, "pred-7f3a", new { prompt = "changed", steps = 4, width = 64, height = 64 });

        Assert.Equal(HttpStatusCode.Accepted, created.Status);
        Assert.Equal(HttpStatusCode.Accepted, again.Status);
        Assert.Equal(created.Body.GetProperty("id").GetGuid(), again.Body.GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, changed.Status);
        Assert.Equal(1, await CountJobsAsync(alice));

        // The client's id reads and cancels it; another key's same id is an unknown job there.
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/v1/generations/pred-7f3a", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync("/v1/generations/pred-7f3a", TestContext.Current.CancellationToken)).StatusCode);
        var read = await alice.GetFromJsonAsync<JsonElement>("/v1/generations/pred-7f3a", TestContext.Current.CancellationToken);
        Assert.Equal(created.Body.GetProperty("id").GetGuid(), read.GetProperty("id").GetGuid());
        Assert.Equal("queued", read.GetProperty("status").GetString());
        var cancelled = await alice.DeleteFromJsonAsync<JsonElement>("/v1/generations/pred-7f3a", TestContext.Current.CancellationToken);
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());

        // A PUT of the same body after that is the same (cancelled) job, not a new one.
        var afterCancel = await PutAsync(alice, "pred-7f3a", body);
        Assert.Equal("cancelled", afterCancel.Body.GetProperty("status").GetString());
        Assert.Equal(1, await CountJobsAsync(alice));
    }

    [Theory]
    [InlineData("has%20space")]
    [InlineData("-leading-dash")]
    [InlineData("semi%3Bcolon")]
    [InlineData("0f8fad5b-d9cb-469f-a165-70867728950e")]
    public async Task A_bad_client_id_or_idempotency_key_is_400_and_creates_nothing(string id)
    {
        using var alice = Client(ApiFactory.AliceKey);
        var body = new { prompt = "never", steps = 4, width = 64, height = 64 };

        var put = await PutAsync(alice, id, body);
        var tooLong = await PostAsync(alice, body, new string('k', 256));

        Assert.Equal(HttpStatusCode.BadRequest, put.Status);
        Assert.True(put.Body.GetProperty("errors").TryGetProperty("id", out _));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.Status);
        Assert.True(tooLong.Body.GetProperty("errors").TryGetProperty("Idempotency-Key", out _));
        if (!Guid.TryParse(id, out _))
        {
            var post = await PostAsync(alice, body, Uri.UnescapeDataString(id));
            Assert.Equal(HttpStatusCode.BadRequest, post.Status);
            Assert.True(post.Body.GetProperty("errors").TryGetProperty("Idempotency-Key", out _));
        }

        Assert.Equal(0, await CountJobsAsync(alice));
    }
}
