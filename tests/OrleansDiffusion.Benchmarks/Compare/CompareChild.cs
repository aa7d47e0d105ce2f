using System.Diagnostics;
using System.Text.Json;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>
/// One contestant in its own process: loads the model, generates the warm-up images, then measures the given number
/// of images (wall time, UNet loop time per step, managed allocations and collections) and prints one JSON line.
/// </summary>
public static class CompareChild
{
    public const string Prompt = "a lighthouse on a cliff at dusk, oil painting";
    public const string NegativePrompt = "blurry";
    public const float Guidance = 7.5f;
    public const long Seed = 1234;

    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var contestant = args.Count > 1 && args[0] == "--contestant" ? args[1] : throw new ArgumentException("compare-child needs --contestant engine|bare first.");
        var options = CompareOptions.Parse(args.Skip(2).ToList());
        var png = options.Png == "on";
        var model = options.Model ?? throw new ArgumentException("compare-child needs --model.");
        var loadStarted = Stopwatch.GetTimestamp();
        Func<long, (double Ms, double StepMs)> generate;
        IDisposable loaded;
        string provider;
        if (contestant == "engine")
        {
            var execution = new ExecutionOptions
            {
                Provider = options.Cuda ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
                IntraOpThreads = options.Threads,
            };
            var diffusion = DiffusionModel.Load(model, execution);
            if (options.Cuda && diffusion.Provider != ExecutionProvider.Cuda)
            {
                throw new InvalidOperationException($"CUDA is unavailable: {diffusion.ProviderFallbackReason}");
            }

            loaded = diffusion;
            provider = diffusion.Provider.ToString();
            var pipeline = new DiffusionPipeline(diffusion);
            generate = seed =>
            {
                var started = Stopwatch.GetTimestamp();
                var result = pipeline.Generate(Request(options, seed));
                var elapsed = Stopwatch.GetElapsedTime(started);

                // The engine always encodes its PNG: without PNG, its time is taken off (its allocations cannot be).
                var ms = elapsed.TotalMilliseconds - (png ? 0 : result.Timings.PngEncoding.TotalMilliseconds);
                return (ms, result.Timings.Denoising.TotalMilliseconds / result.Timings.DenoisingSteps);
            };
        }
        else if (contestant == "bare")
        {
            var bare = new BareOnnxLoop(model, options.Threads, options.Cuda);
            loaded = bare;
            provider = options.Cuda ? "Cuda" : "Cpu";
            generate = seed =>
            {
                var started = Stopwatch.GetTimestamp();
                var (denoising, _) = bare.Generate(Prompt, NegativePrompt, options.Size, options.Size, options.Steps, Guidance, seed, png);
                return (Stopwatch.GetElapsedTime(started).TotalMilliseconds, denoising.TotalMilliseconds / options.Steps);
            };
        }
        else
        {
            throw new ArgumentException($"--contestant is engine or bare, not '{contestant}'.");
        }

        using (loaded)
        {
            var loadMs = Stopwatch.GetElapsedTime(loadStarted).TotalMilliseconds;
            for (var i = 0; i < options.Warmup; i++)
            {
                generate(Seed + 1000 + i);
            }

            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var gens = new[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) };
            var times = new List<double>();
            var steps = new List<double>();
            for (var i = 0; i < options.Images; i++)
            {
                var (ms, stepMs) = generate(Seed + i);
                times.Add(ms);
                steps.Add(stepMs);
            }

            double n = options.Images;
            var allocatedMiB = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1048576.0 / n;
            var memory = ProcessMemory.Read();
            var result = new ChildResult(
                contestant,
                png,
                provider,
                loadMs,
                times.Average(),
                steps.Average(),
                allocatedMiB,
                (GC.CollectionCount(0) - gens[0]) / n,
                (GC.CollectionCount(1) - gens[1]) / n,
                (GC.CollectionCount(2) - gens[2]) / n,
                memory.RssMiB,
                memory.PeakMiB);
            output.WriteLine(ChildResult.Marker + JsonSerializer.Serialize(result));
        }

        return 0;
    }

    public static GenerationRequest Request(CompareOptions options, long seed) => new()
    {
        Prompt = Prompt,
        NegativePrompt = NegativePrompt,
        Steps = options.Steps,
        GuidanceScale = Guidance,
        Seed = seed,
        Width = options.Size,
        Height = options.Size,
        Scheduler = SchedulerKind.Euler,
    };
}
