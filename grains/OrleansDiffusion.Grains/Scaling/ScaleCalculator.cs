using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Scaling;

/// <summary>
/// Turns the queue's load into the number of silos the cluster wants:
/// <c>ceil((pending + running) / workPerSilo)</c>, held at its peak over <see cref="ScalingOptions.ScaleInDelay"/>, at
/// least one silo until the cluster has been idle for <see cref="ScalingOptions.ScaleToZeroAfter"/>, and within
/// <see cref="ScalingOptions.MinSilos"/>..<see cref="ScalingOptions.MaxSilos"/>. Not thread-safe (one queue grain owns it).
/// </summary>
public sealed class ScaleCalculator
{
    private readonly ScalingOptions _options;
    private readonly int _workPerSilo;

    // Demands seen within the scale-in delay, in time order, each larger than every later one (a sliding maximum).
    private readonly LinkedList<(DateTimeOffset At, int Demand)> _peaks = new();
    private DateTimeOffset _lastBusy;

    /// <param name="options">The scaling settings.</param>
    /// <param name="siloCapacity">Generations one silo runs at once; the default work per silo.</param>
    /// <param name="now">The start: the cluster counts as busy until then, so a restart never scales straight to zero.</param>
    public ScaleCalculator(ScalingOptions options, int siloCapacity, DateTimeOffset now)
    {
        _options = options;
        _workPerSilo = options.WorkPerSilo > 0 ? options.WorkPerSilo : Math.Max(1, siloCapacity);
        _lastBusy = now;
    }

    public ScaleSignal Compute(int pending, int running, int activeSilos, DateTimeOffset now)
    {
        var work = pending + running;
        if (work > 0)
        {
            _lastBusy = now;
        }

        var demand = (work + _workPerSilo - 1) / _workPerSilo;
        while (_peaks.Last is { } last && last.Value.Demand <= demand)
        {
            _peaks.RemoveLast();
        }

        _peaks.AddLast((now, demand));
        while (_peaks.First!.Value.At < now - _options.ScaleInDelay)
        {
            _peaks.RemoveFirst();
        }

        var idle = now - _lastBusy;
        var floor = work == 0 && idle >= _options.ScaleToZeroAfter ? _options.MinSilos : Math.Max(1, _options.MinSilos);
        var desired = Math.Clamp(Math.Max(_peaks.First.Value.Demand, floor), _options.MinSilos, _options.MaxSilos);
        return new ScaleSignal(desired, pending, running, _workPerSilo, Math.Max(0, idle.TotalSeconds), activeSilos);
    }
}
