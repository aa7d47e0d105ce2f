using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary><c>GET /v1/generations</c> (issue 12): the caller's jobs, newest first, by status, a page at a time.</summary>
public sealed class JobListTests : IDisposable
{
    // Capacity 0: nothing runs, so jobs stay queued until cancelled.
    private readonly KestrelApi _api = KestrelApi.Start(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0" }));

    public void Dispose() => _api.Dispose();

    private HttpClient Client(string key)
    {
        var http = _api.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static async Task<Guid> SubmitAsync(HttpClient http, string prompt)
    {
        var response = await http.PostAsJsonAsync("/v1/generations", new { prompt, steps = 4, width = 64, height = 64 }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("id").GetGuid();
    }

    /// <summary>Every page of a listing, following next_cursor.</summary>
    private static async Task<List<JsonElement>> PagesAsync(HttpClient http, string query)
    {
        var pages = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await http.GetFromJsonAsync<JsonElement>($"/v1/generations?{query}{(cursor is null ? "" : "&cursor=" + cursor)}", TestContext.Current.CancellationToken);
            pages.Add(page);
            cursor = page.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
            Assert.Equal(cursor is not null, page.GetProperty("has_more").GetBoolean());
        }
        while (cursor is not null && pages.Count < 20);

        return pages;
    }

    private static List<Guid> IdsOf(IEnumerable<JsonElement> pages) =>
        [.. pages.SelectMany(p => p.GetProperty("data").EnumerateArray()).Select(j => j.GetProperty("id").GetGuid())];

    [Fact]
    public async Task A_key_lists_its_own_jobs_newest_first_a_page_at_a_time()
    {
        using var alice = Client(ApiFactory.AliceKey);
        using var bob = Client(ApiFactory.BobKey);
        var hers = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            hers.Add(await SubmitAsync(alice, $"alice {i}"));
        }

        var his = await SubmitAsync(bob, "bob's only");

        var pages = await PagesAsync(alice, "limit=2");

        Assert.Equal([2, 2, 1], pages.Select(p => p.GetProperty("data").GetArrayLength()));
        Assert.Equal(Enumerable.Reverse(hers), IdsOf(pages));
        Assert.Equal([his], IdsOf(await PagesAsync(bob, "")));
        var first = pages[0].GetProperty("data")[0];
        Assert.Equal("queued", first.GetProperty("status").GetString());
        Assert.True(first.TryGetProperty("created_at", out _));
    }

    [Fact]
    public async Task The_status_filter_lists_only_jobs_in_those_statuses()
    {
        using var alice = Client(ApiFactory.AliceKey);
        var ids = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await SubmitAsync(alice, $"filtered {i}"));
        }

        await alice.DeleteAsync($"/v1/generations/{ids[0]}", TestContext.Current.CancellationToken);
        await alice.DeleteAsync($"/v1/generations/{ids[2]}", TestContext.Current.CancellationToken);

        Assert.Equal([ids[2], ids[0]], IdsOf(await PagesAsync(alice, "status=cancelled")));
        Assert.Equal([ids[3], ids[1]], IdsOf(await PagesAsync(alice, "status=queued")));
        Assert.Equal([ids[3], ids[1]], IdsOf(await PagesAsync(alice, "status=queued,running&limit=1")));
        Assert.Empty(IdsOf(await PagesAsync(alice, "status=succeeded")));
        Assert.Equal(Enumerable.Reverse(ids), IdsOf(await PagesAsync(alice, "status=queued,cancelled")));
    }

    [Theory]
    [InlineData("status=done")]
    [InlineData("status=none")]
    [InlineData("limit=0")]
    [InlineData("limit=51")]
    [InlineData("cursor=not-a-cursor")]
    [InlineData("cursor=MDAwMDAwMDAwMDAwMDAwMDAwMC1ub3QtYS1qb2I")]
    public async Task Bad_list_parameters_are_400(string query)
    {
        using var alice = Client(ApiFactory.AliceKey);

        var response = await alice.GetAsync($"/v1/generations?{query}", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Listing_needs_a_key()
    {
        using var anonymous = _api.CreateClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/generations", TestContext.Current.CancellationToken)).StatusCode);
    }
}
