using BenchmarkDotNet.Attributes;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Benchmarks;

/// <summary>
/// A whole 512x512, 20-step txt2img job on the tiny demo model (CPU), PNG included: as the CLI gets it (a PNG array)
/// and as a worker runs it (decoded pixels, the PNG in a pooled buffer that goes back once stored).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class GenerationBenchmarks
{
    private string _folder = null!;
    private DiffusionModel _model = null!;
    private DiffusionPipeline _pipeline = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), "od-bench-" + Guid.NewGuid().ToString("N")[..8]);
        DemoModelWriter.Write(_folder);
        _model = DiffusionModel.Load(_folder);
        _pipeline = new DiffusionPipeline(_model);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "txt2img 512x512, 20 steps, tiny model")]
    public GenerationResult Generate() => _pipeline.Generate(StageBreakdown.Request);

    [Benchmark(Description = "the same, as a worker runs it")]
    public int GenerateAsWorker()
    {
        var length = 0;
        foreach (var decoded in _pipeline.GenerateBatchDecoded([StageBreakdown.Request]))
        {
            foreach (var image in decoded.Images)
            {
                using var png = image.EncodePooledPng();
                length += png.Memory.Length;
            }

            decoded.Dispose();
        }

        return length;
    }
}
