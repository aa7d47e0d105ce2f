namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// AUTOMATIC1111's default emphasis, "Original" (its <c>sd_emphasis.py</c>): each token's encoded state is multiplied
/// by the token's attention weight, then the whole chunk is rescaled so that its mean is what it was before, which keeps
/// heavy weights from pushing the conditioning off its usual scale.
/// </summary>
internal static class Emphasis
{
    /// <summary>Applies the weights to one chunk's states, [tokens, hidden] with one weight per token, in place.</summary>
    public static void ApplyOriginal(Span<float> states, ReadOnlySpan<double> weights, int hidden)
    {
        if (states.Length != weights.Length * hidden)
        {
            throw new ArgumentException($"{weights.Length} weights do not match {states.Length} states of width {hidden}.", nameof(weights));
        }

        var before = Mean(states);
        for (var t = 0; t < weights.Length; t++)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(states.Slice(t * hidden, hidden), (float)weights[t], states.Slice(t * hidden, hidden));
        }

        // A chunk whose weighted mean is 0 has no scale to restore (A1111 would divide by zero).
        var ratio = before / Mean(states);
        if (double.IsFinite(ratio))
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(states, (float)ratio, states);
        }
    }

    private static double Mean(ReadOnlySpan<float> values)
    {
        var sum = 0.0;
        foreach (var v in values)
        {
            sum += v;
        }

        return sum / values.Length;
    }
}
