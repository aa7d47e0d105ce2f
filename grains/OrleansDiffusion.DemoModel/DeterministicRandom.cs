using System.Numerics;
using System.Runtime.InteropServices;

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
        _state = Key(seed, label);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with uniform values of mean 0 and standard deviation <paramref name="std"/>,
    /// element <c>i</c> being a hash of the stream's key and <c>start + i</c>: a counter-based generator, so a tensor of
    /// billions of values is filled chunk by chunk (and vector by vector) with the same values whatever the chunk size
    /// and the machine's vector width. Several times faster than <see cref="FillUniform(Span{float}, double)"/>, for the
    /// full-size models' weights.
    /// </summary>
    public static void FillUniform(int seed, string label, long start, Span<float> destination, double std)
    {
        var key = Key(seed, label);
        var mixed = unchecked((uint)key ^ (uint)(key >> 32));
        var halfWidth = (float)(std * Math.Sqrt(3.0));
        var scale = 2f * halfWidth / (1 << 24);
        var counter = unchecked((uint)start + mixed);
        var i = 0;
        if (Vector.IsHardwareAccelerated && destination.Length >= Vector<uint>.Count)
        {
            Span<uint> lanes = stackalloc uint[Vector<uint>.Count];
            for (var lane = 0; lane < lanes.Length; lane++)
            {
                lanes[lane] = (uint)lane;
            }

            var offsets = new Vector<uint>(lanes);
            var vectorScale = new Vector<float>(scale);
            var vectorHalfWidth = new Vector<float>(halfWidth);
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(destination);
            for (var v = 0; v < vectors.Length; v++, i += Vector<uint>.Count)
            {
                var bits = Hash(new Vector<uint>(unchecked(counter + (uint)i)) + offsets);
                vectors[v] = (Vector.ConvertToSingle(Vector.AsVectorInt32(Vector.ShiftRightLogical(bits, 8))) * vectorScale) - vectorHalfWidth;
            }
        }

        for (; i < destination.Length; i++)
        {
            destination[i] = (Hash(unchecked(counter + (uint)i)) >> 8) * scale - halfWidth;
        }
    }

    // Chris Wellons' lowbias32 integer hash: full avalanche with two multiplications, which vectorise.
    private static uint Hash(uint x)
    {
        x = unchecked((x ^ (x >> 16)) * 0x7FEB352DU);
        x = unchecked((x ^ (x >> 15)) * 0x846CA68BU);
        return x ^ (x >> 16);
    }

    private static Vector<uint> Hash(Vector<uint> x)
    {
        x = (x ^ Vector.ShiftRightLogical(x, 16)) * new Vector<uint>(0x7FEB352DU);
        x = (x ^ Vector.ShiftRightLogical(x, 15)) * new Vector<uint>(0x846CA68BU);
        return x ^ Vector.ShiftRightLogical(x, 16);
    }

    private static ulong Key(int seed, string label)
    {
        // FNV-1a over the label, mixed with the seed.
        var hash = 14695981039346656037UL;
        foreach (var c in label)
        {
            hash = unchecked((hash ^ c) * 1099511628211UL);
        }

        return hash ^ unchecked((ulong)seed * 0x9E3779B97F4A7C15UL);
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
