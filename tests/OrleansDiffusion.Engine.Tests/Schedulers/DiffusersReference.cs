using System.Text.Json;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// <c>Data/scheduler-reference.json</c>: the numbers <c>Schedulers/Reference/scheduler_reference.py</c> works out
/// from diffusers' published rules for several configs, independently of the engine (standard-library Python, float64).
/// </summary>
internal static class DiffusersReference
{
    private static readonly Lazy<(IReadOnlyDictionary<string, string> Configs, IReadOnlyList<ReferenceRun> Runs)> Loaded = new(Load);

    /// <summary>The config texts by case name, as the script wrote them (parsed by <see cref="SchedulerConfig.Parse(string)"/>).</summary>
    public static IReadOnlyDictionary<string, string> Configs => Loaded.Value.Configs;

    public static IReadOnlyList<ReferenceRun> Runs => Loaded.Value.Runs;

    public static ReferenceRun Run(string id) => Runs.Single(r => r.Id == id);

    /// <summary>The scheduler the run describes, built from its config text by the factory.</summary>
    public static IScheduler Create(ReferenceRun run)
    {
        Assert.True(SchedulerFactory.TryParse(run.Scheduler, out var kind, out var karras), run.Scheduler);
        return SchedulerFactory.Create(kind, SchedulerConfig.Parse(Configs[run.Config]), karras);
    }

    private static (IReadOnlyDictionary<string, string>, IReadOnlyList<ReferenceRun>) Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "scheduler-reference.json")));
        var root = document.RootElement;
        var configs = root.GetProperty("configs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var runs = root.GetProperty("runs").EnumerateArray().Select(r => new ReferenceRun(
            r.GetProperty("config").GetString()!,
            r.GetProperty("scheduler").GetString()!,
            r.GetProperty("steps").GetInt32(),
            Doubles(r.GetProperty("timesteps")),
            r.GetProperty("sigmas").ValueKind == JsonValueKind.Null ? null : Doubles(r.GetProperty("sigmas")),
            r.GetProperty("init_noise_sigma").GetDouble(),
            Doubles(r.GetProperty("input_scales")),
            Doubles(r.GetProperty("sample")),
            r.GetProperty("noise_seed").GetInt64(),
            r.GetProperty("model_outputs").EnumerateArray().Select(Doubles).ToArray(),
            r.GetProperty("samples").EnumerateArray().Select(Doubles).ToArray(),
            r.GetProperty("add_noise").GetProperty("index").GetInt32(),
            Doubles(r.GetProperty("add_noise").GetProperty("original")),
            Doubles(r.GetProperty("add_noise").GetProperty("noise")),
            Doubles(r.GetProperty("add_noise").GetProperty("expected")))).ToArray();
        return (configs, runs);
    }

    private static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();
}

/// <summary>One scheduler, config and step count: its schedule, a full run from a given sample, and one add_noise.</summary>
internal sealed record ReferenceRun(
    string Config,
    string Scheduler,
    int Steps,
    double[] Timesteps,
    double[]? Sigmas,
    double InitNoiseSigma,
    double[] InputScales,
    double[] Sample,
    long NoiseSeed,
    double[][] ModelOutputs,
    double[][] Samples,
    int AddNoiseIndex,
    double[] AddNoiseOriginal,
    double[] AddNoiseNoise,
    double[] AddNoiseExpected)
{
    public string Id => $"{Config}/{Scheduler}/{Steps}";
}
