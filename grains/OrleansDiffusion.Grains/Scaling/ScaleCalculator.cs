using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Scaling;

/// <summary>
/// Turns the queue's load into the number of silos the cluster wants:
/// <c>ceil((pending units + running units) / workPerSilo)</c>, where a request's units are its cost
/// (<c>QueueEntry.CostOf</c>: images x steps x pixels / 512^2), so one 8-image 150-step 1024 x 1024 request weighs what
/// 240 default requests do; held at its peak over <see cref="ScalingOptions.ScaleInDelay"/>, at
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
    /// <param name="siloCapacity">Generations one silo runs at once; times <see cref="ScalingOptions.UnitsPerSlot"/>, the default work per silo.</param>
    /// <param name="now">The start: the cluster counts as busy until then, so a restart never scales straight to zero.</param>
    public ScaleCalculator(ScalingOptions options, int siloCapacity, DateTimeOffset now)
    {
        _options = options;
        _workPerSilo = options.WorkPerSilo > 0 ? options.WorkPerSilo : Math.Max(1, siloCapacity) * ScalingOptions.UnitsPerSlot;
        _lastBusy = now;
    }

    public ScaleSignal Compute(QueueLoad load, int activeSilos, DateTimeOffset now)
    {
        if (load.Pending + load.Running > 0)
        {
            _lastBusy = now;
        }

        var work = load.PendingUnits + load.RunningUnits;
        var demand = (int)Math.Min((work + _workPerSilo - 1) / _workPerSilo, int.MaxValue);
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
        var floor = load.Pending + load.Running == 0 && idle >= _options.ScaleToZeroAfter ? _options.MinSilos : Math.Max(1, _options.MinSilos);
        var desired = Math.Clamp(Math.Max(_peaks.First.Value.Demand, floor), _options.MinSilos, _options.MaxSilos);
        return new ScaleSignal(desired, load.Pending, load.Running, _workPerSilo, Math.Max(0, idle.TotalSeconds), activeSilos, load.PendingUnits, load.RunningUnits);
    }
}
