namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// The seeded source of every random number the pipeline draws: initial latents, img2img noise and
/// the per-step noise of ancestral and LCM schedulers.
/// </summary>
/// <remarks>
/// The generator is documented so that results can be reproduced outside this code base:
/// a 64-bit seed is expanded by SplitMix64 into the 256-bit state of xoshiro256**; each standard
/// normal sample comes from the Box-Muller transform over two uniform doubles in (0, 1] built from
/// the top 53 bits of two outputs (<c>sqrt(-2 ln u1) * cos(2 pi u2)</c>, then
/// <c>sqrt(-2 ln u1) * sin(2 pi u2)</c>), computed in double precision and rounded to float.
/// The same seed gives the same sequence on every machine whose <see cref="Math"/> is IEEE-exact for
/// these functions, and always on the same machine. It is not PyTorch's generator: the same seed gives
/// different noise from diffusers.
/// </remarks>
public sealed class NoiseGenerator
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spare;
    private bool _hasSpare;

    public NoiseGenerator(long seed)
    {
        var x = unchecked((ulong)seed);
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>Fills <paramref name="destination"/> with independent standard normal samples.</summary>
    public void FillNormal(Span<float> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)NextNormal();
        }
    }

    /// <summary>One standard normal sample.</summary>
    public double NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }

        var u1 = NextUnitInterval();
        var u2 = NextUnitInterval();
        var radius = Math.Sqrt(-2.0 * Math.Log(u1));
        var angle = 2.0 * Math.PI * u2;
        _spare = radius * Math.Sin(angle);
        _hasSpare = true;
        return radius * Math.Cos(angle);
    }

    /// <summary>A uniform double in (0, 1].</summary>
    public double NextUnitInterval() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    public ulong NextUInt64()
    {
        var result = RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix64(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        var z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
