using System.Numerics.Tensors;

namespace OrleansDiffusion.Engine.Numerics;

/// <summary>Classifier-free guidance.</summary>
public static class Guidance
{
    /// <summary>
    /// <c>destination = uncond + scale * (cond - uncond)</c>, element-wise and vectorised. <paramref name="destination"/>
    /// may be <paramref name="cond"/> itself but must not overlap <paramref name="uncond"/>.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> uncond, ReadOnlySpan<float> cond, float scale, Span<float> destination)
    {
        if (uncond.Length != cond.Length || destination.Length < cond.Length)
        {
            throw new ArgumentException("Guidance operands must have the same length.");
        }

        // (cond - uncond) * scale + uncond, fused so nothing is allocated.
        TensorPrimitives.Subtract(cond, uncond, destination);
        TensorPrimitives.MultiplyAdd(destination, scale, uncond, destination);
    }
}
