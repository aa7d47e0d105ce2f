using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.RunPod;

/// <summary>
/// A long job of another key on the one worker slot (about 18 s), so that the next job waits in the queue until the
/// blocker is cancelled.
/// </summary>
internal static class Blocker
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Submits the blocker with <paramref name="bob"/>'s key and returns once it runs.</summary>
    public static async Task<Guid> StartAsync(HttpClient bob)
    {
        using var response = await bob.PostAsJsonAsync("/v1/generations", new { prompt = "in front", steps = 150, width = 1024, height = 1024, n = 8 }, Ct);
        var blocker = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid();

        // Running, so that it holds the slot: a job merely queued may lose its turn to one queued after it in another
        // queue partition.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await bob.GetFromJsonAsync<JsonElement>($"/v1/generations/{blocker}", Ct)).GetProperty("status").GetString() != "running")
        {
            Assert.True(DateTime.UtcNow < deadline, "the blocking job never started");
            await Task.Delay(20, Ct);
        }

        return blocker;
    }
}
