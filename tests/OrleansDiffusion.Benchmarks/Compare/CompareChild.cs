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
        Func<long, Sample> generate;
        IDisposable loaded;
        string provider;
        if (contestant == "engine")
        {
            var execution = new ExecutionOptions
            {
                Provider = options.Cuda ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
                IntraOpThreads = options.Threads,
                AllowSpinning = options.AllowSpinning,
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
                // As a worker runs a job: up to the decoded 8-bit pixels (GenerateBatchDecoded), then with PNG each image
                // encoded into a pooled buffer, as it is before it is stored, and the buffers handed back.
                var started = Stopwatch.GetTimestamp();
                var decoded = pipeline.GenerateBatchDecoded([Request(options, seed)])[0];
                var timings = decoded.Timings;
                if (png)
                {
                    foreach (var image in decoded.Images)
                    {
                        image.EncodePooledPng().Dispose();
                    }
                }

                decoded.Dispose();
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                return new Sample(ms, timings.Denoising.TotalMilliseconds / timings.DenoisingSteps, timings.TextEncoder.TotalMilliseconds, timings.Denoising.TotalMilliseconds, timings.VaeDecoder.TotalMilliseconds);
            };
        }
        else if (contestant == "bare")
        {
            var bare = new BareOnnxLoop(model, options.Threads, options.Cuda, options.AllowSpinning);
            loaded = bare;
            provider = options.Cuda ? "Cuda" : "Cpu";
            generate = seed =>
            {
                var started = Stopwatch.GetTimestamp();
                var stages = bare.Generate(Prompt, NegativePrompt, options.Size, options.Size, options.Steps, Guidance, seed, png);
                return new Sample(Stopwatch.GetElapsedTime(started).TotalMilliseconds, stages.Denoising.TotalMilliseconds / options.Steps, stages.Text.TotalMilliseconds, stages.Denoising.TotalMilliseconds, stages.Decode.TotalMilliseconds);
            };
        }
        else
        {
            throw new ArgumentException($"--contestant is engine or bare, not '{contestant}'.");
        }

        using (loaded)
        {
            var loadMs = Stopwatch.GetElapsedTime(loadStarted).TotalMilliseconds;
            var warmupStarted = Stopwatch.GetTimestamp();
            var warmups = 0;
            while (options.Warmup is { } count
                ? warmups < count
                : warmups == 0 || Stopwatch.GetElapsedTime(warmupStarted).TotalSeconds < CompareOptions.WarmupSeconds)
            {
                generate(Seed + 1000 + warmups++);
            }

            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var gens = new[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) };
            var samples = new List<Sample>();
            for (var i = 0; i < options.Images; i++)
            {
                samples.Add(generate(Seed + i));
            }

            double n = options.Images;
            var allocatedMiB = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1048576.0 / n;
            var memory = ProcessMemory.Read();
            var result = new ChildResult(
                contestant,
                png,
                provider,
                loadMs,
                warmups,
                samples.Average(s => s.Ms),
                samples.Average(s => s.StepMs),
                samples.Average(s => s.TextMs),
                samples.Average(s => s.DenoiseMs),
                samples.Average(s => s.DecodeMs),
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

    private readonly record struct Sample(double Ms, double StepMs, double TextMs, double DenoiseMs, double DecodeMs);

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
