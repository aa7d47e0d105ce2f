using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// Full runs with a "perfect" model that knows the clean sample x0: at timestep t it answers the noise that explains
/// its input, <c>eps = (x_in - sqrt(acp) x0) / sqrt(1 - acp)</c>. Every scheduler must then end on x0; a sign or
/// scale error anywhere in a schedule or update rule does not.
/// </summary>
public sealed class ConvergenceTests
{
    private static readonly float[] CleanSample = [0.8f, -0.5f, 0.25f, -1.0f, 0.6f, 0.05f, -0.3f, 1.2f];

    public static TheoryData<string> AllNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in SchedulerFactory.Names)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Perfect_model_txt2img_run_ends_on_the_clean_sample(string name)
    {
        var scheduler = Create(name);
        scheduler.SetTimesteps(25, CleanSample.Length);
        var sample = new float[CleanSample.Length];
        var noise = new NoiseGenerator(11);
        noise.FillNormal(sample);
        for (var i = 0; i < sample.Length; i++)
        {
            sample[i] *= scheduler.InitNoiseSigma;
        }

        Run(scheduler, 0, sample, noise);

        Sd15Reference.AssertClose(Array.ConvertAll(CleanSample, v => (double)v), sample, 2e-3);
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void Perfect_model_img2img_run_from_a_later_step_ends_on_the_clean_sample(string name)
    {
        var scheduler = Create(name);
        scheduler.SetTimesteps(25, CleanSample.Length);
        var noise = new NoiseGenerator(12);
        var initialNoise = new float[CleanSample.Length];
        noise.FillNormal(initialNoise);
        var sample = (float[])CleanSample.Clone();
        var begin = scheduler.Timesteps.Length / 3;
        scheduler.AddNoise(sample, initialNoise, begin, sample);

        Run(scheduler, begin, sample, noise);

        Sd15Reference.AssertClose(Array.ConvertAll(CleanSample, v => (double)v), sample, 2e-3);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(15)]
    public void Perfect_model_pndm_run_with_runge_kutta_warm_up_ends_on_the_clean_sample_from_any_begin_index(int begin)
    {
        var scheduler = new PndmScheduler(Sd15Reference.NoiseFreeEnd with { SkipPrkSteps = false });
        scheduler.SetTimesteps(25, CleanSample.Length);
        var noise = new NoiseGenerator(13);
        var initialNoise = new float[CleanSample.Length];
        noise.FillNormal(initialNoise);
        var sample = (float[])CleanSample.Clone();
        scheduler.AddNoise(sample, initialNoise, begin, sample);

        Run(scheduler, begin, sample, noise);

        Assert.Equal(34, scheduler.Timesteps.Length);
        Sd15Reference.AssertClose(Array.ConvertAll(CleanSample, v => (double)v), sample, 2e-3);
    }

    private static IScheduler Create(string name)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        return SchedulerFactory.Create(kind, Sd15Reference.NoiseFreeEnd, karras);
    }

    private static void Run(IScheduler scheduler, int begin, float[] sample, NoiseGenerator noise)
    {
        var output = new float[sample.Length];
        for (var step = begin; step < scheduler.Timesteps.Length; step++)
        {
            var sigma = Sd15Reference.SigmaAt(scheduler.Timesteps[step]);
            var acp = 1 / ((sigma * sigma) + 1);
            var scale = scheduler.ModelInputScale(step);
            for (var i = 0; i < sample.Length; i++)
            {
                var input = sample[i] * scale;
                output[i] = (float)((input - (Math.Sqrt(acp) * CleanSample[i])) / Math.Sqrt(1 - acp));
            }

            scheduler.Step(output, step, sample, noise);
        }
    }
}
