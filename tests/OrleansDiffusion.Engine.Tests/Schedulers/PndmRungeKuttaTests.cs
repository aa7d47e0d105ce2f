using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;
using static OrleansDiffusion.Engine.Tests.Schedulers.Sd15Reference;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

/// <summary>PNDM without <c>skip_prk_steps</c>: three Runge-Kutta intervals of four UNet calls, then PLMS.</summary>
public sealed class PndmRungeKuttaTests
{
    // SD 1.5's betas, but the class's other defaults: skip_prk_steps false, leading spacing, no offset.
    private static readonly SchedulerConfig RungeKutta = SchedulerConfig.StableDiffusion15 with { SkipPrkSteps = false, StepsOffset = 0 };

    [Fact]
    public void Ten_steps_run_three_runge_kutta_intervals_at_their_midpoints_then_plms()
    {
        var pndm = new PndmScheduler(RungeKutta);
        pndm.SetTimesteps(10, 4);

        // Leading: 0, 100, ..., 900; half a step is 50.
        float[] expected = [900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600, 600, 500, 400, 300, 200, 100, 0];
        Assert.True(pndm.RungeKuttaWarmUp);
        Assert.Equal(expected, pndm.Timesteps.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Fewer_than_four_steps_cannot_hold_the_warm_up_and_are_refused(int steps)
    {
        var pndm = new PndmScheduler(RungeKutta);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pndm.SetTimesteps(steps, 4));
        Assert.Contains("skip_prk_steps", error.Message, StringComparison.Ordinal);
        var refused = Assert.Throws<ArgumentException>(() => SchedulerFactory.Validate(SchedulerKind.Pndm, RungeKutta, false, steps));
        Assert.DoesNotContain("Parameter", refused.Message, StringComparison.Ordinal);
        SchedulerFactory.Validate(SchedulerKind.Pndm, RungeKutta, false, 4);
    }

    [Fact]
    public void The_first_four_calls_are_one_classical_runge_kutta_step_from_900_to_800()
    {
        var pndm = new PndmScheduler(RungeKutta);
        pndm.SetTimesteps(10, Sample.Length);
        var e = Enumerable.Range(0, 4).Select(ModelOutputForStep).ToArray();
        var after = new float[4][];
        for (var call = 0; call < 4; call++)
        {
            // Calls 1-3 start again from the interval's first sample, whatever sample they are given.
            after[call] = call == 0 ? ToFloats(Sample) : ToFloats(ModelOutput);
            pndm.Step(ToFloats(e[call]), call, after[call], new NoiseGenerator(0));
        }

        AssertClose(Transfer(Sample, 900, 850, e[0]), after[0], 2e-5);
        AssertClose(Transfer(Sample, 900, 850, e[1]), after[1], 2e-5);
        AssertClose(Transfer(Sample, 900, 800, e[2]), after[2], 2e-5);
        var average = e[0].Select((_, i) => (e[0][i] / 6) + (e[1][i] / 3) + (e[2][i] / 3) + (e[3][i] / 6)).ToArray();
        AssertClose(Transfer(Sample, 900, 800, average), after[3], 2e-5);
    }

    [Fact]
    public void After_the_warm_up_plms_runs_at_fourth_order_on_the_interval_starts()
    {
        var pndm = new PndmScheduler(RungeKutta);
        pndm.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);
        var e = Enumerable.Range(0, 13).Select(ModelOutputForStep).ToArray();
        for (var call = 0; call < 12; call++)
        {
            pndm.Step(ToFloats(e[call]), call, sample, new NoiseGenerator(0));
        }

        var before = ToDoubles(sample);
        pndm.Step(ToFloats(e[12]), 12, sample, new NoiseGenerator(0));

        // The history holds the predictions at 900, 800 and 700 (each interval's first call), then 600's.
        var combined = e[0].Select((_, i) => ((55 * e[12][i]) - (59 * e[8][i]) + (37 * e[4][i]) - (9 * e[0][i])) / 24).ToArray();
        AssertClose(Transfer(before, 600, 500, combined), sample, 1e-4);
    }

    [Fact]
    public void V_prediction_is_converted_with_the_interval_s_first_sample()
    {
        var velocity = RungeKutta with { PredictionType = PredictionType.VPrediction };
        var pndm = new PndmScheduler(velocity);
        pndm.SetTimesteps(10, Sample.Length);
        var sample = ToFloats(Sample);
        pndm.Step(ToFloats(ModelOutput), 0, sample, new NoiseGenerator(0));
        var ignored = ToFloats(ModelOutputForStep(3));
        pndm.Step(ToFloats(ModelOutput), 1, ignored, new NoiseGenerator(0));

        // eps = sqrt(acp) v + sqrt(1 - acp) x at timestep 900 with x the first sample, for both calls.
        var a = Acp(900);
        var eps = Sample.Select((x, i) => (Math.Sqrt(a) * ModelOutput[i]) + (Math.Sqrt(1 - a) * x)).ToArray();
        AssertClose(Transfer(Sample, 900, 850, eps), ignored, 2e-5);
    }

    /// <summary>The PNDM transfer from t to t_prev: sqrt(a'/a) x - (a' - a) e / (a sqrt(1 - a') + sqrt(a (1 - a) a')).</summary>
    private static double[] Transfer(double[] x, int t, int previous, double[] e)
    {
        var a = Acp(t);
        var ap = Acp(previous);
        var denominator = (a * Math.Sqrt(1 - ap)) + Math.Sqrt(a * (1 - a) * ap);
        return x.Select((value, i) => (Math.Sqrt(ap / a) * value) - ((ap - a) * e[i] / denominator)).ToArray();
    }
}
