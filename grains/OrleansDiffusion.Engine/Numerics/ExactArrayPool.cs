using System.Collections.Concurrent;

namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// Float arrays of an exact length, kept for reuse: for buffers whose length is their meaning (a text embedding's
/// <c>[77, hidden]</c> floats, 236 KiB for SD 1.5, on the large-object heap, where a new one per job is what sets off gen2
/// collections). <see cref="System.Buffers.ArrayPool{T}"/> rounds lengths up to a power of two, so it cannot serve
/// them. Bounded: a few arrays for each of a few lengths; anything beyond is left to the garbage collector.
/// </summary>
internal static class ExactArrayPool
{
    private const int ArraysPerLength = 4;
    private const int Lengths = 16;

    private static readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> Pool = new();

    /// <summary>An array of exactly <paramref name="length"/> floats; its contents are whatever the last user left.</summary>
    public static float[] Rent(int length) =>
        Pool.TryGetValue(length, out var bag) && bag.TryTake(out var array) ? array : new float[length];

    public static void Return(float[] array)
    {
        if (!Pool.TryGetValue(array.Length, out var bag))
        {
            if (Pool.Count >= Lengths)
            {
                return;
            }

            bag = Pool.GetOrAdd(array.Length, _ => []);
        }

        if (bag.Count < ArraysPerLength)
        {
            bag.Add(array);
        }
    }
}
