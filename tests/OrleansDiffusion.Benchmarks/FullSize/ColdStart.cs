using System.Diagnostics;
using System.Globalization;
using OrleansDiffusion.Benchmarks.Api;

namespace OrleansDiffusion.Benchmarks.FullSize;

/// <summary>
/// The cold start of a silo to its first image: the API with its co-hosted silo (zero-config: grain state in memory,
/// images on local disk) started as its own process with one model configured, then a 1-step 512x512 Euler job
/// submitted as soon as it is ready and polled until it succeeded. Times from process start: ready, first image.
/// </summary>
public static class ColdStart
{
    public static async Task<int> RunAsync(string model, int threads, TextWriter output)
    {
        var root = Path.Combine(Path.GetTempPath(), "od-cold-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        ApiProcess? api = null;
        try
        {
            var port = ApiLoadBenchmark.FreePort();
            api = await ApiProcess.StartAsync(root, port, azureConnectionString: null, settings: new Dictionary<string, string>
            {
                ["Diffusion:Models:0:Id"] = "full",
                ["Diffusion:Models:0:Path"] = Path.GetFullPath(model),
                ["Diffusion:IntraOpThreads"] = threads.ToString(CultureInfo.InvariantCulture),
            });
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(30) };
            await ApiLoadBenchmark.WaitReadyAsync(http, api);
            var ready = Stopwatch.GetElapsedTime(api.StartedTimestamp);
            var job = await ApiLoadBenchmark.RunJobAsync(http, new { prompt = "a lighthouse at dusk", steps = 1, width = 512, height = 512, seed = 1, scheduler = "euler" });
            var first = Stopwatch.GetElapsedTime(api.StartedTimestamp);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fullsize cold: {model}: process start -> ready {ready.TotalSeconds:F1} s, -> first 1-step 512x512 image {first.TotalSeconds:F1} s (the job itself {job / 1000:F1} s), RSS {api.ResidentMiB():F0} MiB"));
            return 0;
        }
        catch (Exception e) when (api is not null)
        {
            output.WriteLine($"fullsize cold failed: {e.Message}");
            output.WriteLine(api.RecentOutput());
            return 1;
        }
        finally
        {
            if (api is not null)
            {
                await api.DisposeAsync();
            }

            Directory.Delete(root, recursive: true);
        }
    }
}
