using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Cache;
using OrleansDiffusion.Grains.Jobs;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Retention;

/// <summary>What the retention tests look at in a cluster: its sweepers, its stores and the records in grain storage.</summary>
internal static class RetentionProbe
{
    /// <summary>Periods of an hour (so nothing expires by the wall clock during a test) and no timer sweep.</summary>
    public static RetentionOptions Hourly() => new()
    {
        Results = TimeSpan.FromHours(1),
        Inputs = TimeSpan.FromHours(1),
        Jobs = TimeSpan.FromHours(1),
        SweepInterval = TimeSpan.FromDays(1),
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static RetentionSweeper Sweeper(this ClusterHarness harness, InProcessSiloHandle? silo = null) =>
        harness.Service<RetentionSweeper>(silo ?? harness.ActiveSilos.First());

    /// <summary>Sweeps once every silo wrote the retention marks it queued (they are written behind the jobs' backs).</summary>
    public static async Task<RetentionSweepReport> SweepAsync(this ClusterHarness harness, DateTimeOffset now)
    {
        await harness.FlushMarksAsync();
        return await harness.Sweeper().SweepAsync(now, Ct);
    }

    public static Task FlushMarksAsync(this ClusterHarness harness) =>
        Task.WhenAll(harness.ActiveSilos.Select(silo => harness.Service<RetentionMarker>(silo).FlushAsync(Ct)));

    public static IImageStore Images(this ClusterHarness harness) => harness.Service<IImageStore>(harness.ActiveSilos.First());

    public static IRetentionStore Marks(this ClusterHarness harness) => harness.Service<IRetentionStore>(harness.ActiveSilos.First());

    public static async Task<List<RetentionMark>> MarksAsync(this ClusterHarness harness, RetentionKind kind)
    {
        await harness.FlushMarksAsync();
        var marks = new List<RetentionMark>();
        await foreach (var set in harness.Marks().ListMarksAsync(kind, DateTimeOffset.MaxValue.AddYears(-1), Ct))
        {
            marks.AddRange(set.Marks);
        }

        return marks;
    }

    public static async Task<bool> JobRecordExistsAsync(this ClusterHarness harness, Guid id)
    {
        var state = new GrainState<JobState>(new JobState());
        await Storage(harness, StorageNames.Jobs).ReadStateAsync("job", harness.Job(id).GetGrainId(), state);
        return state.RecordExists;
    }

    public static Task WriteJobRecordAsync(this ClusterHarness harness, Guid id, JobState record) =>
        Storage(harness, StorageNames.Jobs).WriteStateAsync("job", harness.Job(id).GetGrainId(), new GrainState<JobState>(record));

    public static async Task<bool> CacheRecordExistsAsync(this ClusterHarness harness, string requestKey)
    {
        var state = new GrainState<CacheState>(new CacheState());
        await Storage(harness, StorageNames.Cache).ReadStateAsync("result", harness.Client.GetGrain<IResultCacheGrain>(requestKey).GetGrainId(), state);
        return state.RecordExists;
    }

    public static Task<bool> StoredAsync(this ClusterHarness harness, string key) => harness.Images().ExistsAsync(key, Ct);

    /// <summary>Submits and waits for the job to finish; it must succeed.</summary>
    public static async Task<JobSnapshot> RunAsync(this ClusterHarness harness, GenerationSpec spec, string apiKey = "test")
    {
        var (id, _) = await harness.SubmitAsync(spec, apiKey);
        var done = await harness.WaitAsync(id);
        Assert.True(done.Status == JobStatus.Succeeded, $"job {id}: {done.Status} {done.Error}");
        return done;
    }

    /// <summary>A 64 x 64 init image, different per seed.</summary>
    public static byte[] InitImage(int seed)
    {
        var chw = new float[3 * 64 * 64];
        var random = new Random(seed);
        for (var i = 0; i < chw.Length; i++)
        {
            chw[i] = (float)(random.NextDouble() * 2 - 1);
        }

        // Stored as the API stores an upload: decoded once and normalised to the request's size.
        return InitImageLoader.Normalize(PngEncoder.Encode(chw, 64, 64, parameters: null), 64, 64);
    }

    /// <summary>A 64 x 64 mask that repaints its left half, stored as the API stores an upload: normalised.</summary>
    public static byte[] Mask()
    {
        var chw = new float[3 * 64 * 64];
        for (var i = 0; i < chw.Length; i++)
        {
            chw[i] = i % 64 < 32 ? 1f : -1f;
        }

        return MaskLoader.Normalize(PngEncoder.Encode(chw, 64, 64, parameters: null), imageSize: null, 64, 64, new MaskOptions());
    }

    /// <summary>A small img2img request on the demo model.</summary>
    public static GenerationSpec Img2Img(string prompt, long seed, string input) =>
        ClusterHarness.SmallSpec(prompt, seed, steps: 4) with { InitImageKey = input, Strength = 0.5f };

    private static IGrainStorage Storage(ClusterHarness harness, string name) =>
        harness.ActiveSilos.First().ServiceProvider.GetRequiredKeyedService<IGrainStorage>(name);
}
