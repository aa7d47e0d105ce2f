namespace OrleansDiffusion.DemoModel;

/// <summary>
/// SplitMix64 keyed by a seed and a label, so each weight tensor has its own stream and adding one tensor does not
/// shift the others. Written out rather than <see cref="Random"/> so that the bytes never depend on the runtime.
/// </summary>
internal sealed class DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(int seed, string label)
    {
        // FNV-1a over the label, mixed with the seed.
        var hash = 14695981039346656037UL;
        foreach (var c in label)
        {
            hash = unchecked((hash ^ c) * 1099511628211UL);
        }

        _state = hash ^ unchecked((ulong)seed * 0x9E3779B97F4A7C15UL);
    }

    /// <summary>Fills <paramref name="destination"/> with uniform values of mean 0 and standard deviation <paramref name="std"/>.</summary>
    public void FillUniform(Span<float> destination, double std)
    {
        var halfWidth = std * Math.Sqrt(3.0);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)(((2.0 * NextUnit()) - 1.0) * halfWidth);
        }
    }

    public float[] Uniform(int length, double std)
    {
        var values = new float[length];
        FillUniform(values, std);
        return values;
    }

    /// <summary>A uniform double in [0, 1).</summary>
    private double NextUnit() => (Next() >> 11) * (1.0 / (1UL << 53));

    private ulong Next()
    {
        var z = unchecked(_state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
