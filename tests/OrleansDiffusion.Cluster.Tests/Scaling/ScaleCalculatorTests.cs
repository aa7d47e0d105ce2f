using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Scaling;

namespace OrleansDiffusion.Cluster.Tests.Scaling;

public sealed class ScaleCalculatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static ScaleCalculator Calculator(int min = 0, int max = 10, int workPerSilo = 0, int capacity = 2, double scaleInDelay = 60, double scaleToZero = 600) =>
        new(new ScalingOptions
        {
            MinSilos = min,
            MaxSilos = max,
            WorkPerSilo = workPerSilo,
            ScaleInDelay = TimeSpan.FromSeconds(scaleInDelay),
            ScaleToZeroAfter = TimeSpan.FromSeconds(scaleToZero),
        }, capacity, Start);

    /// <summary>Requests of the default size (512 x 512, 20 steps, one image): 20 units each, unless told.</summary>
    private static QueueLoad Load(int pending, int running, int unitsEach = ScalingOptions.UnitsPerSlot) =>
        new(pending, running, (long)pending * unitsEach, (long)running * unitsEach);

    [Theory]
    [InlineData(1, 0, 1)]
    [InlineData(2, 0, 1)]
    [InlineData(2, 1, 2)]
    [InlineData(5, 4, 5)]
    [InlineData(0, 6, 3)]
    public void Queued_and_running_work_divided_by_the_silo_capacity_rounds_up(int pending, int running, int expected)
    {
        var signal = Calculator(capacity: 2, scaleInDelay: 0).Compute(Load(pending, running), activeSilos: 1, Start);

        Assert.Equal(expected, signal.DesiredSilos);
        Assert.Equal(2 * ScalingOptions.UnitsPerSlot, signal.WorkPerSilo);
        Assert.Equal(pending, signal.Pending);
        Assert.Equal(running, signal.Running);
    }

    [Fact]
    public void Work_per_silo_overrides_the_capacity_and_the_maximum_caps_the_result()
    {
        var calculator = Calculator(max: 4, workPerSilo: 5, capacity: 1, scaleInDelay: 0);

        Assert.Equal(3, calculator.Compute(Load(11, 0, unitsEach: 1), 1, Start).DesiredSilos);
        Assert.Equal(4, calculator.Compute(Load(100, 0, unitsEach: 1), 1, Start).DesiredSilos);
    }

    [Fact]
    public void The_signal_grows_with_units_so_one_huge_request_is_not_one_small_job()
    {
        var calculator = Calculator(max: 1000, capacity: 1, scaleInDelay: 0);
        var huge = QueueEntry.CostOf(new GenerationSpec { ImageCount = 8, Steps = 150, Width = 1024, Height = 1024 });
        var small = QueueEntry.CostOf(new GenerationSpec { Steps = 20, Width = 512, Height = 512 });
        Assert.Equal((4800, 20), (huge, small));

        var one = calculator.Compute(new QueueLoad(1, 0, small, 0), 1, Start);
        var big = calculator.Compute(new QueueLoad(1, 0, huge, 0), 1, Start);

        Assert.Equal(1, one.DesiredSilos);
        Assert.Equal(240, big.DesiredSilos);
        Assert.Equal((1, 4800L), (big.Pending, big.PendingUnits));
    }

    [Fact]
    public void A_peak_is_held_for_the_scale_in_delay_then_the_signal_follows_the_work_down()
    {
        var calculator = Calculator(capacity: 1, scaleInDelay: 30);

        Assert.Equal(6, calculator.Compute(Load(4, 2), 3, Start).DesiredSilos);
        Assert.Equal(6, calculator.Compute(Load(1, 1), 6, Start.AddSeconds(20)).DesiredSilos);
        Assert.Equal(6, calculator.Compute(Load(1, 1), 6, Start.AddSeconds(30)).DesiredSilos);
        // The peak seen at 0 s has aged out; the highest demand left in the window is 2.
        Assert.Equal(2, calculator.Compute(Load(0, 1), 6, Start.AddSeconds(31)).DesiredSilos);
        // Growth is never delayed.
        Assert.Equal(9, calculator.Compute(Load(9, 0), 2, Start.AddSeconds(32)).DesiredSilos);
    }

    [Fact]
    public void An_idle_cluster_keeps_one_silo_until_the_idle_time_passes_then_goes_to_the_minimum()
    {
        var calculator = Calculator(min: 0, capacity: 1, scaleInDelay: 0, scaleToZero: 120);

        Assert.Equal(1, calculator.Compute(Load(1, 0), 1, Start).DesiredSilos);
        var idle = calculator.Compute(Load(0, 0), 1, Start.AddSeconds(119));
        Assert.Equal(1, idle.DesiredSilos);
        Assert.True(idle.IsActive);
        Assert.Equal(119, idle.IdleSeconds, precision: 3);

        var zero = calculator.Compute(Load(0, 0), 1, Start.AddSeconds(120));
        Assert.Equal(0, zero.DesiredSilos);
        Assert.False(zero.IsActive);

        // New work wakes it at once, and restarts the idle clock.
        Assert.Equal(1, calculator.Compute(Load(0, 1), 0, Start.AddSeconds(121)).DesiredSilos);
        Assert.Equal(1, calculator.Compute(Load(0, 0), 1, Start.AddSeconds(200)).DesiredSilos);
    }

    [Fact]
    public void A_fresh_start_counts_as_busy_so_a_restarted_queue_never_drops_straight_to_zero()
    {
        var calculator = Calculator(min: 0, scaleInDelay: 0, scaleToZero: 60);

        Assert.Equal(1, calculator.Compute(Load(0, 0), 1, Start.AddSeconds(59)).DesiredSilos);
        Assert.Equal(0, calculator.Compute(Load(0, 0), 1, Start.AddSeconds(60)).DesiredSilos);
    }

    [Fact]
    public void The_minimum_holds_even_when_idle()
    {
        var calculator = Calculator(min: 2, scaleInDelay: 0, scaleToZero: 0);

        Assert.Equal(2, calculator.Compute(Load(0, 0), 2, Start.AddHours(1)).DesiredSilos);
    }
}
