using System.Globalization;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Benchmarks;

/// <summary>Where the time of a 512x512, 20-step job goes: text encoder, UNet steps, VAE, PNG (mean of several runs after one warm-up).</summary>
public static class StageBreakdown
{
    public static readonly GenerationRequest Request = new()
    {
        Prompt = "a lighthouse on a cliff at dusk, oil painting",
        NegativePrompt = "blurry",
        Steps = 20,
        GuidanceScale = 7.5f,
        Seed = 1234,
        Width = 512,
        Height = 512,
        Scheduler = SchedulerKind.EulerAncestral,
    };

    public static int Run(int runs, TextWriter output)
    {
        var folder = Path.Combine(Path.GetTempPath(), "od-stages-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            DemoModelWriter.Write(folder);
            using var model = DiffusionModel.Load(folder);
            var pipeline = new DiffusionPipeline(model);
            pipeline.Generate(Request);
            var results = Enumerable.Range(0, runs).Select(_ => pipeline.Generate(Request).Timings).ToList();

            double Mean(Func<StageTimings, TimeSpan> stage) => results.Average(t => stage(t).TotalMilliseconds);
            var total = Mean(t => t.Total);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"txt2img 512x512, 20 steps (Euler a, guidance 7.5), tiny demo model, {model.Provider}, mean of {runs} runs"));
            output.WriteLine("| stage | ms | share |");
            output.WriteLine("|---|---:|---:|");
            void Row(string name, double ms) => output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {ms:F1} | {ms / total:P0} |"));
            Row("text encoder (2 prompts)", Mean(t => t.TextEncoder));
            Row("UNet steps (20)", Mean(t => t.Denoising));
            Row("per UNet step", Mean(t => t.Denoising) / 20);
            Row("VAE decoder", Mean(t => t.VaeDecoder));
            Row("PNG encoding", Mean(t => t.PngEncoding));
            Row("total", total);
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
