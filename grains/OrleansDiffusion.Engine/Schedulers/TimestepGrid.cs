namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The three diffusers timestep spacings, as fractional values in descending order. Each scheduler applies its own
/// rounding and bookkeeping on top, because diffusers' schedulers differ in exactly those details.
/// </summary>
internal static class TimestepGrid
{
    /// <summary>
    /// <paramref name="steps"/> descending timesteps. "linspace" spans [0, train - 1] evenly (unrounded), "leading"
    /// counts multiples of <c>train / steps</c> (integer division) up from 0 and adds the offset, "trailing"
    /// counts multiples of <c>train / steps</c> (real division) down from train, rounded, minus one.
    /// </summary>
    public static double[] Descending(TimestepSpacing spacing, int steps, int trainTimesteps, int stepsOffset)
    {
        var timesteps = new double[steps];
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
                var ascending = Linspace(0, trainTimesteps - 1, steps);
                for (var i = 0; i < steps; i++)
                {
                    timesteps[i] = ascending[steps - 1 - i];
                }

                break;
            case TimestepSpacing.Leading:
                var ratio = trainTimesteps / steps;
                for (var i = 0; i < steps; i++)
                {
                    timesteps[i] = ((steps - 1 - i) * ratio) + stepsOffset;
                }

                break;
            case TimestepSpacing.Trailing:
                var realRatio = (double)trainTimesteps / steps;
                for (var i = 0; i < steps; i++)
                {
                    // Math.Round rounds half to even, like numpy's round.
                    timesteps[i] = Math.Round(trainTimesteps - (i * realRatio)) - 1;
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "Unknown timestep spacing.");
        }

        return timesteps;
    }

    /// <summary>numpy <c>linspace(start, stop, count)</c>: both ends included, the last value exactly <paramref name="stop"/>.</summary>
    public static double[] Linspace(double start, double stop, int count)
    {
        var values = new double[count];
        if (count == 1)
        {
            values[0] = start;
            return values;
        }

        var step = (stop - start) / (count - 1);
        for (var i = 0; i < count; i++)
        {
            values[i] = start + (i * step);
        }

        values[^1] = stop;
        return values;
    }
}
