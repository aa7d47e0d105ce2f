using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>
/// Every scheduler, on SD 1.5, SD 2.1, zero-SNR + trailing + v-prediction, cosine betas, class defaults only,
/// trained betas and the class-specific keys, against the numbers an independent re-derivation of diffusers' rules
/// gives (<see cref="DiffusersReference"/>).
/// </summary>
/// <remarks>
/// Schedules are computed in double precision on both sides and must agree to 1e-6 (relative; the engine exposes
/// them as float). Steps run in float32 in the engine and in float64 in the reference; the step tolerance is relative
/// to the largest magnitude the step combines, since a float32 difference of two numbers of size M carries an error of
/// about 6e-8 M whatever its result.
/// </remarks>
public sealed class DiffusersReferenceTests
{
    private const double ScheduleTolerance = 1e-6;
    private const double StepTolerance = 2e-6;

    public static TheoryData<string> RunIds()
    {
        var data = new TheoryData<string>();
        foreach (var run in DiffusersReference.Runs)
        {
            data.Add(run.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RunIds))]
    public void Timesteps_sigmas_and_input_scales_follow_the_diffusers_class(string id)
    {
        var run = DiffusersReference.Run(id);
        var scheduler = DiffusersReference.Create(run);
        scheduler.SetTimesteps(run.Steps, run.Sample.Length);

        AssertRelative(run.Timesteps, scheduler.Timesteps, ScheduleTolerance, "timestep");
        if (run.Sigmas is not null)
        {
            AssertRelative(run.Sigmas, SigmasOf(scheduler), ScheduleTolerance, "sigma");
        }

        AssertRelative([run.InitNoiseSigma], [scheduler.InitNoiseSigma], ScheduleTolerance, "init noise sigma");
        var scales = new float[scheduler.Timesteps.Length];
        for (var i = 0; i < scales.Length; i++)
        {
            scales[i] = scheduler.ModelInputScale(i);
        }

        AssertRelative(run.InputScales, scales, ScheduleTolerance, "input scale");
    }

    [Theory]
    [MemberData(nameof(RunIds))]
    public void Every_step_of_a_full_run_follows_the_diffusers_class(string id)
    {
        var run = DiffusersReference.Run(id);
        var scheduler = DiffusersReference.Create(run);
        scheduler.SetTimesteps(run.Steps, run.Sample.Length);
        Assert.Equal(run.Samples.Length, scheduler.Timesteps.Length);
        var sample = Sd15Reference.ToFloats(run.Sample);
        var noise = new NoiseGenerator(run.NoiseSeed);
        var magnitude = run.Sample.Max(Math.Abs);
        for (var step = 0; step < run.Samples.Length; step++)
        {
            var output = Sd15Reference.ToFloats(run.ModelOutputs[step]);
            magnitude = Math.Max(magnitude, run.Samples[step].Max(Math.Abs));
            scheduler.Step(output, step, sample, noise);

            var allowed = StepTolerance * Math.Max(1.0, magnitude);
            for (var i = 0; i < sample.Length; i++)
            {
                var expected = run.Samples[step][i];
                Assert.True(
                    Math.Abs(expected - sample[i]) <= allowed,
                    $"{id}: step {step}, element {i}: expected {expected:R}, actual {sample[i]:R} (tolerance {allowed:G3}).");
            }

            // Carry on from the reference's own sample, so that each step is checked on its own.
            Sd15Reference.ToFloats(run.Samples[step]).CopyTo(sample, 0);
            magnitude = run.Samples[step].Max(Math.Abs);
        }
    }

    [Theory]
    [MemberData(nameof(RunIds))]
    public void Add_noise_follows_the_diffusers_class(string id)
    {
        var run = DiffusersReference.Run(id);
        var scheduler = DiffusersReference.Create(run);
        scheduler.SetTimesteps(run.Steps, run.Sample.Length);
        var destination = new float[run.AddNoiseOriginal.Length];

        scheduler.AddNoise(Sd15Reference.ToFloats(run.AddNoiseOriginal), Sd15Reference.ToFloats(run.AddNoiseNoise), run.AddNoiseIndex, destination);

        Sd15Reference.AssertClose(run.AddNoiseExpected, destination, StepTolerance);
    }

    [Fact]
    public void The_reference_covers_every_scheduler_on_every_required_config()
    {
        string[] required = ["sd15", "sd21", "zero_snr_trailing_v", "cosine", "class_defaults", "trained_betas"];
        foreach (var config in required)
        {
            foreach (var name in SchedulerFactory.Names)
            {
                Assert.Contains(DiffusersReference.Runs, r => r.Config == config && r.Scheduler == name);
            }
        }
    }

    private static float[] SigmasOf(IScheduler scheduler) => scheduler switch
    {
        EulerScheduler euler => euler.Sigmas.ToArray(),
        EulerAncestralScheduler ancestral => ancestral.Sigmas.ToArray(),
        LmsScheduler lms => lms.Sigmas.ToArray(),
        DpmSolverMultistepScheduler dpm => dpm.Sigmas.ToArray(),
        _ => throw new ArgumentException("Not a sigma-space scheduler.", nameof(scheduler)),
    };

    private static void AssertRelative(double[] expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}s: expected {expected.Length}, actual {actual.Length}: [{string.Join(", ", actual.ToArray())}]");
        for (var i = 0; i < expected.Length; i++)
        {
            var allowed = tolerance * Math.Max(Math.Abs(expected[i]), 1e-3);
            Assert.True(
                Math.Abs(expected[i] - actual[i]) <= allowed,
                $"{what} {i}: expected {expected[i]:R}, actual {actual[i]:R} (tolerance {allowed:G3}).");
        }
    }
}
