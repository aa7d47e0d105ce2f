using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.RunPod;

/// <summary>
/// A long job of another key on the one worker slot, so that the next job waits in the queue until the blocker is
/// cancelled. It runs on <see cref="SlowModel"/>, the demo model with extra work in its UNet that only a large latent
/// feels: the blocker (eight 1024 x 1024 images, 150 steps) takes well over half a minute even on a fast machine, a
/// 64 x 64 job of a test about as long as on the plain demo model.
/// </summary>
internal static class Blocker
{
    private static readonly Lazy<string> Model = new(WriteSlowModel);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The settings that serve the slow demo model (written once per test run, deleted when it ends).</summary>
    public static Dictionary<string, string> SlowModel(Dictionary<string, string> settings)
    {
        settings["Diffusion:Models:0:Id"] = "demo";
        settings["Diffusion:Models:0:Path"] = Model.Value;
        return settings;
    }

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

    private static string WriteSlowModel()
    {
        var directory = Path.Combine(Path.GetTempPath(), "od-slow-demo-" + Guid.NewGuid().ToString("N")[..10]);
        DemoModelWriter.Write(directory, new DemoModelOptions { UNetExtraConvLayers = 100 });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(directory, recursive: true);
        return directory;
    }
}
