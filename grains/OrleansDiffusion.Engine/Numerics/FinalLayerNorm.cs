namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// CLIP's final layer norm, which CLIP skip applies to an earlier layer's states (as AUTOMATIC1111 and diffusers do).
/// Its scale and bias are weights inside the text encoder graph, not outputs; they are recovered from runs of the
/// encoder itself, where <c>last_hidden_state = norm(hidden_states.N)</c> holds for every token: per channel, the line
/// through the (normalised state, output) pairs of all tokens. That is exact for an export that is what it claims, and
/// <see cref="Fit"/> reports how far the pairs are from the line so that the caller can refuse one that is not.
/// </summary>
internal sealed class FinalLayerNorm
{
    private readonly float[] _scale;
    private readonly float[] _bias;
    private readonly double _epsilon;

    public FinalLayerNorm(float[] scale, float[] bias, double epsilon)
    {
        _scale = scale;
        _bias = bias;
        _epsilon = epsilon;
    }

    public int Hidden => _scale.Length;

    public ReadOnlySpan<float> Scale => _scale;

    public ReadOnlySpan<float> Bias => _bias;

    /// <summary>
    /// Fits the norm to token states <paramref name="before"/> (the last layer's output) and <paramref name="after"/>
    /// (<c>last_hidden_state</c>), both [tokens, hidden]; <paramref name="relativeError"/> is the root mean square of what
    /// the fitted norm misses over that of <paramref name="after"/>.
    /// </summary>
    public static FinalLayerNorm Fit(ReadOnlySpan<float> before, ReadOnlySpan<float> after, int hidden, double epsilon, out double relativeError)
    {
        if (before.Length != after.Length || hidden <= 0 || before.Length % hidden != 0)
        {
            throw new ArgumentException($"Token states of {before.Length} and {after.Length} values do not split into rows of {hidden}.");
        }

        var tokens = before.Length / hidden;
        var normalised = new double[before.Length];
        for (var t = 0; t < tokens; t++)
        {
            Normalise(before.Slice(t * hidden, hidden), normalised.AsSpan(t * hidden, hidden), epsilon);
        }

        var scale = new float[hidden];
        var bias = new float[hidden];
        double missed = 0, total = 0;
        for (var c = 0; c < hidden; c++)
        {
            double sn = 0, sy = 0, snn = 0, sny = 0;
            for (var t = 0; t < tokens; t++)
            {
                var n = normalised[(t * hidden) + c];
                double y = after[(t * hidden) + c];
                sn += n;
                sy += y;
                snn += n * n;
                sny += n * y;
            }

            var determinant = (tokens * snn) - (sn * sn);
            var w = determinant > 1e-9 * tokens * tokens ? ((tokens * sny) - (sn * sy)) / determinant : 0;
            var b = (sy - (w * sn)) / tokens;
            scale[c] = (float)w;
            bias[c] = (float)b;
            for (var t = 0; t < tokens; t++)
            {
                double y = after[(t * hidden) + c];
                var miss = y - ((w * normalised[(t * hidden) + c]) + b);
                missed += miss * miss;
                total += y * y;
            }
        }

        relativeError = total > 0 ? Math.Sqrt(missed / total) : Math.Sqrt(missed);
        return new FinalLayerNorm(scale, bias, epsilon);
    }

    /// <summary>Normalises each token row of <paramref name="states"/> ([tokens, hidden]) in place, then scales and shifts it.</summary>
    public void Apply(Span<float> states)
    {
        var hidden = _scale.Length;
        Span<double> row = hidden <= 2048 ? stackalloc double[hidden] : new double[hidden];
        for (var t = 0; t < states.Length / hidden; t++)
        {
            var token = states.Slice(t * hidden, hidden);
            Normalise(token, row, _epsilon);
            for (var c = 0; c < hidden; c++)
            {
                token[c] = (float)((row[c] * _scale[c]) + _bias[c]);
            }
        }
    }

    private static void Normalise(ReadOnlySpan<float> row, Span<double> destination, double epsilon)
    {
        var mean = 0.0;
        foreach (var v in row)
        {
            mean += v;
        }

        mean /= row.Length;
        var variance = 0.0;
        foreach (var v in row)
        {
            variance += (v - mean) * (v - mean);
        }

        var inverse = 1.0 / Math.Sqrt((variance / row.Length) + epsilon);
        for (var i = 0; i < row.Length; i++)
        {
            destination[i] = (row[i] - mean) * inverse;
        }
    }
}
