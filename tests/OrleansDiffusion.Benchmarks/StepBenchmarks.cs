using BenchmarkDotNet.Attributes;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Benchmarks;

/// <summary>
/// The per-step work the engine adds around the UNet: classifier-free guidance and one scheduler step on 64x64 latents
/// (a 512x512 image). Target: 0 B allocated per step.
/// </summary>
[MemoryDiagnoser]
public class StepBenchmarks
{
    private const int Steps = 20;
    private const int LatentLength = 4 * 64 * 64;

    private readonly float[] _uncond = new float[LatentLength];
    private readonly float[] _cond = new float[LatentLength];
    private readonly float[] _guided = new float[LatentLength];
    private readonly float[] _latents = new float[LatentLength];
    private NoiseGenerator _noise = null!;
    private IScheduler _scheduler = null!;
    private int _index;

    [Params("euler", "euler_a", "ddim", "pndm", "lms", "dpmpp_2m", "dpmpp_2m_karras", "lcm")]
    public string Scheduler { get; set; } = "euler";

    [GlobalSetup]
    public void Setup()
    {
        _noise = new NoiseGenerator(7);
        _noise.FillNormal(_uncond);
        _noise.FillNormal(_cond);
        _noise.FillNormal(_latents);
        SchedulerFactory.TryParse(Scheduler, out var kind, out var karras);
        _scheduler = SchedulerFactory.Create(kind, SchedulerConfig.StableDiffusion15, karras);
        _scheduler.SetTimesteps(Steps, LatentLength);
    }

    [Benchmark(Description = "guidance + scheduler step, 4x64x64")]
    public void GuidanceAndStep()
    {
        if (_index == _scheduler.Timesteps.Length)
        {
            // A new run over the same buffers: SetTimesteps reuses them when the size is unchanged.
            _scheduler.SetTimesteps(Steps, LatentLength);
            _noise.FillNormal(_latents);
            _index = 0;
        }

        Guidance.Apply(_uncond, _cond, 7.5f, _guided);
        _scheduler.Step(_guided, _index++, _latents, _noise);
    }
}
