namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// The guidance-scale embedding an LCM-distilled UNet takes as <c>timestep_cond</c>, as diffusers'
/// <c>get_guidance_scale_embedding</c> computes it: <c>w = guidance - 1</c> (diffusers' LCM pipelines use the Imagen
/// formulation of guidance, the UNet was distilled on <c>w</c>), <c>x = 1000 w</c>, <c>f_k = exp(-k ln 10000 / (half - 1))</c>,
/// the embedding <c>[sin(x f), cos(x f)]</c>, zero-padded to an odd width. Computed in float32 as PyTorch does, because
/// the UNet learned PyTorch's rounding of these large angles.
/// </summary>
public static class GuidanceEmbedding
{
    /// <summary>Writes the embedding of <paramref name="guidanceScale"/> into <paramref name="destination"/> (its width).</summary>
    public static void Write(float guidanceScale, Span<float> destination)
    {
        var half = destination.Length / 2;
        if (half < 2)
        {
            throw new ArgumentException($"A guidance embedding is at least 4 wide, not {destination.Length}.", nameof(destination));
        }

        var x = (guidanceScale - 1f) * 1000f;
        var step = MathF.Log(10000f) / (half - 1);
        for (var k = 0; k < half; k++)
        {
            var angle = x * MathF.Exp(k * -step);
            destination[k] = MathF.Sin(angle);
            destination[half + k] = MathF.Cos(angle);
        }

        destination[(2 * half)..].Clear();
    }
}
