using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

public sealed class AllocationTests
{
    private const int Length = 64;

    public static TheoryData<string> AllNames() => ConvergenceTests.AllNames();

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Steps_after_set_timesteps_allocate_nothing(string name)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var scheduler = SchedulerFactory.Create(kind, SchedulerConfig.StableDiffusion15, karras);
        var sample = new float[Length];
        var output = new float[Length];
        var clean = new float[Length];
        var noise = new NoiseGenerator(3);
        noise.FillNormal(output);
        noise.FillNormal(clean);

        // Warm up every code path (first-order, multistep, final step) so JIT work is done before measuring.
        for (var round = 0; round < 3; round++)
        {
            scheduler.SetTimesteps(12, Length);
            RunAll(scheduler, sample, output, clean, noise);
        }

        scheduler.SetTimesteps(12, Length);
        var before = GC.GetAllocatedBytesForCurrentThread();
        RunAll(scheduler, sample, output, clean, noise);
        var after = GC.GetAllocatedBytesForCurrentThread();

        Assert.True(scheduler.Timesteps.Length >= 10);
        Assert.Equal(before, after);
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Restarting_with_the_same_step_count_allocates_nothing(string name)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var scheduler = SchedulerFactory.Create(kind, SchedulerConfig.StableDiffusion15, karras);
        var sample = new float[Length];
        var output = new float[Length];
        var clean = new float[Length];
        var noise = new NoiseGenerator(5);
        noise.FillNormal(clean);
        scheduler.SetTimesteps(12, Length);
        RunAll(scheduler, sample, output, clean, noise);
        var first = scheduler.Timesteps.ToArray();

        var before = GC.GetAllocatedBytesForCurrentThread();
        scheduler.SetTimesteps(12, Length);
        RunAll(scheduler, sample, output, clean, noise);
        var after = GC.GetAllocatedBytesForCurrentThread();

        Assert.Equal(before, after);
        Assert.Equal(first, scheduler.Timesteps.ToArray());
        scheduler.SetTimesteps(6, Length);
        Assert.True(scheduler.Timesteps.Length is 6 or 7, "another step count gets its own schedule");
    }

    public static TheoryData<string, string> OptionRuns() => new()
    {
        { "class_defaults", "pndm" },
        { "class_defaults", "ddim" },
        { "thresholding", "ddim" },
        { "thresholding", "lcm" },
        { "thresholding", "dpmpp_2m" },
        { "dpm_options", "dpmpp_2m" },
        { "dpm_clipped", "dpmpp_2m_karras" },
        { "euler_options", "euler" },
        { "euler_continuous", "euler" },
        { "exponential", "lms" },
    };

    [Theory]
    [MemberData(nameof(OptionRuns))]
    public void Steps_with_class_options_allocate_nothing(string config, string name)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        var scheduler = SchedulerFactory.Create(kind, SchedulerConfig.Parse(DiffusersReference.Configs[config]), karras);
        var sample = new float[Length];
        var output = new float[Length];
        var clean = new float[Length];
        var noise = new NoiseGenerator(7);
        noise.FillNormal(output);
        noise.FillNormal(clean);
        for (var round = 0; round < 3; round++)
        {
            scheduler.SetTimesteps(12, Length);
            RunAll(scheduler, sample, output, clean, noise);
        }

        scheduler.SetTimesteps(12, Length);
        var before = GC.GetAllocatedBytesForCurrentThread();
        RunAll(scheduler, sample, output, clean, noise);
        var after = GC.GetAllocatedBytesForCurrentThread();

        Assert.Equal(before, after);
    }

    private static void RunAll(IScheduler scheduler, float[] sample, float[] output, float[] clean, NoiseGenerator noise)
    {
        scheduler.AddNoise(clean, output, 0, sample);
        for (var step = 0; step < scheduler.Timesteps.Length; step++)
        {
            var scale = scheduler.ModelInputScale(step);
            output[0] = scale * 0.01f;
            scheduler.Step(output, step, sample, noise);
        }
    }
}
