using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// The PyTorch layers the full-size graphs are made of (Linear, Conv2d, GroupNorm, LayerNorm, attention, ...), as the
/// ONNX exporter lowers them at opset 17, computing in the weights' type. Each parameter is named as in the diffusers or
/// transformers state dict and streamed to the <see cref="WeightFile"/>.
/// </summary>
/// <remarks>
/// Weights are scaled so that a generated model stays finite through a whole generation: fan-in scaled uniform
/// weights (unit gain), zero biases, norms with unit scale and zero shift, and the last layer of every residual branch
/// at <see cref="ResidualGain"/>, so that the residual streams grow slowly with depth.
/// </remarks>
internal sealed class LayerBuilder(OnnxGraphBuilder graph, WeightFile weights)
{
    /// <summary>The gain of the last layer of a residual branch (resnet conv2, attention output, feed-forward output).</summary>
    public const double ResidualGain = 0.25;

    private readonly Dictionary<int, (string Scale, string Bias)> _instanceAffine = [];
    private readonly Dictionary<float, string> _scalars = [];

    public OnnxGraphBuilder Graph { get; } = graph;

    /// <summary>The type the graph computes in: the weights' type.</summary>
    public DataType Type => weights.Type;

    /// <summary>A parameter: a tensor streamed to the weight file, named <paramref name="name"/>.</summary>
    public string Parameter(string name, double std, params long[] dims) => Add(name, std, null, dims);

    /// <summary>A parameter whose every value is <paramref name="value"/> (norm scales and shifts, biases).</summary>
    public string FilledParameter(string name, float value, params long[] dims) => Add(name, 0, value, dims);

    /// <summary>A constant of the compute type (not a parameter).</summary>
    public string Scalar(float value)
    {
        if (!_scalars.TryGetValue(value, out var name))
        {
            name = Graph.Filled("scalar", value, Type);
            _scalars[value] = name;
        }

        return name;
    }

    /// <summary><c>nn.Linear</c> over the last axis: <c>x @ W + b</c> (W stored transposed, as exports store it).</summary>
    public string Linear(string name, string x, int inputs, int outputs, bool bias = true, double gain = 1)
    {
        var y = Graph.Node("MatMul", [x, Parameter($"{name}.weight", gain / Math.Sqrt(inputs), inputs, outputs)]);
        return bias ? Graph.Node("Add", [y, FilledParameter($"{name}.bias", 0, outputs)]) : y;
    }

    /// <summary><c>nn.Conv2d</c> with a square kernel; <paramref name="pads"/> are ONNX's (begin h, begin w, end h, end w).</summary>
    public string Conv(string name, string x, int inputs, int outputs, int kernel, int stride = 1, long[]? pads = null, double gain = 1)
    {
        var padding = kernel / 2;
        var w = Parameter($"{name}.weight", gain / Math.Sqrt(inputs * kernel * kernel), outputs, inputs, kernel, kernel);
        return Graph.Node("Conv", [x, w, FilledParameter($"{name}.bias", 0, outputs)],
            OnnxAttribute.Ints("kernel_shape", kernel, kernel),
            OnnxAttribute.Ints("strides", stride, stride),
            OnnxAttribute.Ints("pads", pads ?? [padding, padding, padding, padding]));
    }

    /// <summary>
    /// <c>nn.GroupNorm</c> as torch exports it at opset 17: reshape to [N, groups, -1], InstanceNormalization, reshape
    /// back, the affine per channel.
    /// </summary>
    public string GroupNorm(string name, string x, int channels, int groups, float epsilon)
    {
        var grouped = Graph.Node("Reshape", [x, Graph.Int64s("group_shape", 0, groups, -1)]);
        if (!_instanceAffine.TryGetValue(groups, out var affine))
        {
            // Not parameters: the exporter's unit scale and zero shift of the InstanceNormalization it lowers to.
            affine = (Graph.Filled("instance_scale", 1, Type, groups), Graph.Filled("instance_bias", 0, Type, groups));
            _instanceAffine[groups] = affine;
        }

        var normalized = Graph.Node("InstanceNormalization", [grouped, affine.Scale, affine.Bias],
            OnnxAttribute.Float("epsilon", epsilon));
        var restored = Graph.Node("Reshape", [normalized, Graph.Node("Shape", [x])]);
        return Graph.Node("Add", [
            Graph.Node("Mul", [restored, FilledParameter($"{name}.weight", 1, channels, 1, 1)]),
            FilledParameter($"{name}.bias", 0, channels, 1, 1)]);
    }

    /// <summary><c>nn.LayerNorm</c> over the last axis.</summary>
    public string LayerNorm(string name, string x, int channels, float epsilon = 1e-5f) =>
        Graph.Node("LayerNormalization", [x, FilledParameter($"{name}.weight", 1, channels), FilledParameter($"{name}.bias", 0, channels)],
            OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", epsilon));

    public string Silu(string x) => Graph.Node("Mul", [x, Graph.Node("Sigmoid", [x])]);

    /// <summary>The exact GELU: <c>x / 2 * (1 + erf(x / sqrt 2))</c>.</summary>
    public string Gelu(string x)
    {
        var erf = Graph.Node("Erf", [Graph.Node("Mul", [x, Scalar((float)(1 / Math.Sqrt(2)))])]);
        return Graph.Node("Mul", [Graph.Node("Mul", [x, Scalar(0.5f)]), Graph.Node("Add", [erf, Scalar(1f)])]);
    }

    /// <summary>CLIP's <c>quick_gelu</c>: <c>x * sigmoid(1.702 x)</c>.</summary>
    public string QuickGelu(string x) => Graph.Node("Mul", [x, Graph.Node("Sigmoid", [Graph.Node("Mul", [x, Scalar(1.702f)])])]);

    /// <summary>
    /// Multi-head attention of <paramref name="x"/> [B, S, C] over <paramref name="context"/> [B, T, D] (itself when
    /// null): the projections, <c>softmax(q k^T / sqrt(d) + mask) v</c> per head, the output projection.
    /// </summary>
    /// <param name="names">The four projections' names: q, k, v, out.</param>
    public string Attention(string x, string? context, int channels, int contextChannels, int heads, bool projectionBias, string[] names, string? mask = null)
    {
        var headDim = channels / heads;
        var source = context ?? x;
        string Heads(string value) => Graph.Node("Transpose", [Graph.Node("Reshape", [value, Graph.Int64s("heads_shape", 0, 0, heads, headDim)])],
            OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        var q = Heads(Linear(names[0], x, channels, channels, projectionBias));
        var k = Heads(Linear(names[1], source, contextChannels, channels, projectionBias));
        var v = Heads(Linear(names[2], source, contextChannels, channels, projectionBias));
        var scores = Graph.Node("Mul", [
            Graph.Node("MatMul", [q, Graph.Node("Transpose", [k], OnnxAttribute.Ints("perm", 0, 1, 3, 2))]),
            Scalar((float)(1 / Math.Sqrt(headDim)))]);
        if (mask is not null)
        {
            scores = Graph.Node("Add", [scores, mask]);
        }

        var attended = Graph.Node("MatMul", [Graph.Node("Softmax", [scores], OnnxAttribute.Int("axis", -1)), v]);
        var merged = Graph.Node("Reshape", [
            Graph.Node("Transpose", [attended], OnnxAttribute.Ints("perm", 0, 2, 1, 3)),
            Graph.Int64s("merge_shape", 0, 0, -1)]);
        return Linear(names[3], merged, channels, channels, gain: ResidualGain);
    }

    private string Add(string name, double std, float? constant, long[] dims)
    {
        var count = dims.Aggregate(1L, (product, dim) => product * dim);
        var (offset, length) = weights.Append(name, count, std, constant);
        return Graph.ExternalInitializer(name, Type, dims, weights.Location, offset, length);
    }
}
