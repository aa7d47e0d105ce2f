using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// transformers' <c>CLIPTextModel</c> / <c>CLIPTextModelWithProjection</c> as a graph (<c>modeling_clip.py</c>): token
/// and position embeddings, pre-norm encoder layers with causal self-attention and an MLP (quick_gelu or gelu), the
/// final layer norm; <c>pooler_output</c> is the state at the end-of-text token (the highest id), and with a projection
/// <c>text_embeds</c> is that state times <c>text_projection</c>. Every layer's input is also an output,
/// <c>hidden_states.0</c> ... <c>hidden_states.N</c>, as optimum exports them for CLIP skip and SDXL.
/// </summary>
internal static class ClipTextModel
{
    private const float LayerNormEpsilon = 1e-5f;

    // What CLIP adds above the diagonal; finite so that it also holds in float16.
    private const float MaskedScore = -30000f;

    public static void Build(LayerBuilder b, ClipTextConfig config, DemoModelSignature signature, DataType inputIds)
    {
        var g = b.Graph;
        var d = config.HiddenSize;
        var ids = g.Input("input_ids", inputIds, "batch", signature.SequenceLength);
        var tokens = g.Node("Gather", [b.Parameter("text_model.embeddings.token_embedding.weight", 1, ClipTextConfig.VocabularySize, d), ids]);
        var length = g.Node("Shape", [ids], OnnxAttribute.Int("start", 1), OnnxAttribute.Int("end", 2));
        var positions = g.Node("Slice", [
            b.Parameter("text_model.embeddings.position_embedding.weight", 1, ClipTextConfig.MaxPositions, d),
            g.Int64s("zero", 0), length, g.Int64s("axis0", 0)]);
        var h = g.Node("Add", [tokens, positions]);

        var mask = CausalMask(b, length);
        var hiddenStates = new List<string> { h };
        for (var layer = 0; layer < config.Layers; layer++)
        {
            var name = $"text_model.encoder.layers.{layer}";
            var attention = b.Attention(b.LayerNorm($"{name}.layer_norm1", h, d, LayerNormEpsilon), null, d, d, config.Heads, true,
                [$"{name}.self_attn.q_proj", $"{name}.self_attn.k_proj", $"{name}.self_attn.v_proj", $"{name}.self_attn.out_proj"], mask);
            h = g.Node("Add", [h, attention]);
            var fc1 = b.Linear($"{name}.mlp.fc1", b.LayerNorm($"{name}.layer_norm2", h, d, LayerNormEpsilon), d, config.IntermediateSize);
            var activated = config.QuickGelu ? b.QuickGelu(fc1) : b.Gelu(fc1);
            h = g.Node("Add", [h, b.Linear($"{name}.mlp.fc2", activated, config.IntermediateSize, d, gain: LayerBuilder.ResidualGain)]);
            hiddenStates.Add(h);
        }

        var last = b.LayerNorm("text_model.final_layer_norm", h, d, LayerNormEpsilon);

        // The state at the end-of-text token, the highest id of CLIP's vocabulary: argmax over the ids, as one-hot weights.
        var eos = g.Node("ArgMax", [g.CastTo(ids, inputIds, DataType.Float)], OnnxAttribute.Int("axis", 1), OnnxAttribute.Int("keepdims", 1));
        var range = g.Node("Range", [g.ConstantInt64("zero_scalar", [0]), g.Node("Squeeze", [length, g.Int64s("axis0", 0)]), g.ConstantInt64("one", [1])]);
        var oneHot = g.CastTo(g.Node("Equal", [g.Node("Unsqueeze", [range, g.Int64s("axis0", 0)]), eos]), DataType.Bool, b.Type);
        var pooled = g.Node("ReduceSum", [g.Node("Mul", [last, g.Node("Unsqueeze", [oneHot, g.Int64s("last_axis", -1)])]), g.Int64s("axis1", 1)],
            OnnxAttribute.Int("keepdims", 0));

        if (config.ProjectionDim > 0)
        {
            var embeds = b.Linear("text_projection", pooled, d, config.ProjectionDim, bias: false);
            g.Output(g.CastTo(embeds, b.Type, signature.Float), "text_embeds", signature.Float, "batch", (long)config.ProjectionDim);
        }

        g.Output(g.CastTo(last, b.Type, signature.Float), "last_hidden_state", signature.Float, "batch", signature.SequenceLength, (long)d);
        if (config.ProjectionDim == 0)
        {
            g.Output(g.CastTo(pooled, b.Type, signature.Float), "pooler_output", signature.Float, "batch", (long)d);
        }

        for (var i = 0; i < hiddenStates.Count; i++)
        {
            g.Output(g.CastTo(hiddenStates[i], b.Type, signature.Float), $"hidden_states.{i}", signature.Float, "batch", signature.SequenceLength, (long)d);
        }
    }

    /// <summary>[S, S]: 0 on and below the diagonal, a large negative score above it, cut to the sequence's length.</summary>
    private static string CausalMask(LayerBuilder b, string length)
    {
        const int n = ClipTextConfig.MaxPositions;
        var values = new float[n * n];
        for (var row = 0; row < n; row++)
        {
            for (var column = row + 1; column < n; column++)
            {
                values[(row * n) + column] = MaskedScore;
            }
        }

        var g = b.Graph;
        var full = g.CastTo(g.Constant("causal_mask", values, n, n), DataType.Float, b.Type);
        var zeros = g.Int64s("zeros", 0, 0);
        var lengths = g.Node("Concat", [length, length], OnnxAttribute.Int("axis", 0));
        return g.Node("Slice", [full, zeros, lengths, g.Int64s("axes01", 0, 1)]);
    }
}
