namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>The forward process of the variance-preserving schedulers (DDIM, PNDM, LCM).</summary>
internal static class VpNoise
{
    /// <summary><c>destination = sqrt(acp) * original + sqrt(1 - acp) * noise</c>; destination may alias original.</summary>
    public static void Add(double alphaCumprod, ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination)
    {
        var signal = (float)Math.Sqrt(alphaCumprod);
        var spread = (float)Math.Sqrt(1 - alphaCumprod);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (signal * original[i]) + (spread * noise[i]);
        }
    }
}
