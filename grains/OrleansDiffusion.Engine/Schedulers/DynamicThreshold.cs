namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// Imagen's dynamic thresholding (diffusers' <c>_threshold_sample</c>, <c>thresholding = true</c>): the threshold
/// <c>s</c> is the <c>dynamic_thresholding_ratio</c> quantile of |x0| over the image (linear interpolation, as
/// <c>torch.quantile</c>), clamped to [1, <c>sample_max_value</c>]; then <c>x0 = clamp(x0, -s, s) / s</c>.
/// </summary>
/// <remarks>One instance per scheduler; its scratch buffer is sized by <see cref="Prepare"/>, so a step allocates nothing.</remarks>
internal sealed class DynamicThreshold(double ratio, double maxValue)
{
    private float[] _sorted = [];

    /// <summary>Sizes the scratch buffer for samples of <paramref name="length"/> floats.</summary>
    public void Prepare(int length)
    {
        if (_sorted.Length != length)
        {
            _sorted = new float[length];
        }
    }

    /// <summary>Thresholds <paramref name="x0"/> in place.</summary>
    public void Apply(Span<float> x0)
    {
        var sorted = _sorted.AsSpan(0, x0.Length);
        for (var i = 0; i < x0.Length; i++)
        {
            sorted[i] = Math.Abs(x0[i]);
        }

        sorted.Sort();
        var position = ratio * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        var quantile = sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
        // torch.clamp(s, min=1, max=sample_max_value): the upper bound wins when it is below 1.
        var s = (float)Math.Min(Math.Max(quantile, 1.0), maxValue);
        for (var i = 0; i < x0.Length; i++)
        {
            x0[i] = Math.Clamp(x0[i], -s, s) / s;
        }
    }
}
