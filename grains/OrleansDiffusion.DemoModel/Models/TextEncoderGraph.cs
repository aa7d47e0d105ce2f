using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// input_ids -> token embedding + position embedding -> MatMul to the hidden size, then either one Tanh (the default)
/// or CLIP's shape: residual layers <c>h + tanh(h * scale + shift)</c> and a final LayerNormalization, with every
/// layer's output before the norm as <c>hidden_states.N</c> (as optimum names them). last_hidden_state is the result;
/// pooler_output is its mean over the sequence. With a <see cref="TextProjection"/> it is SDXL's second encoder
/// (CLIPTextModelWithProjection): <c>text_embeds</c>, that mean times the projection, first, and no pooler_output.
/// </summary>
internal static class TextEncoderGraph
{
    /// <param name="path">The model file.</param>
    /// <param name="signature">The flavour's names and types; <c>input_ids</c> is <see cref="DemoModelSignature.InputIds"/>.</param>
    /// <param name="weights">The encoder's weights.</param>
    /// <param name="textProjection">SDXL's second encoder: the projection to <c>text_embeds</c>; null for CLIPTextModel.</param>
    public static void Write(string path, DemoModelSignature signature, DemoModelWeights weights, TextProjection? textProjection = null)
    {
        const int d = DemoModelWeights.TokenEmbeddingSize;
        var g = new OnnxGraphBuilder("demo_text_encoder");
        var ids = g.Input("input_ids", signature.InputIds, "batch", signature.SequenceLength);

        var table = g.Constant("token_embedding", weights.TokenEmbedding, ClipVocabularyFiles.VocabularySize, d);
        var tokens = g.Node("Gather", [table, ids]);

        // The position table is 77 long; the sequence may be shorter in optimum exports.
        var positionTable = g.Constant("position_embedding", weights.PositionEmbedding, DemoModelSignature.MaxSequenceLength, d);
        var length = g.Node("Shape", [ids], OnnxAttribute.Int("start", 1), OnnxAttribute.Int("end", 2));
        var positions = g.Node("Slice", [positionTable, g.Int64s("zero", 0), length, g.Int64s("axis0", 0)]);

        var projection = g.Constant("projection", weights.TextProjection, d, weights.HiddenSize);
        var embedded = g.Node("MatMul", [g.Node("Add", [tokens, positions]), projection]);
        string hidden;
        var layerOutputs = new List<string>();
        if (weights.TextEncoderLayers == 0)
        {
            hidden = g.Node("Tanh", [embedded]);
        }
        else
        {
            var state = embedded;
            layerOutputs.Add(state);
            for (var layer = 0; layer < weights.TextEncoderLayers; layer++)
            {
                var activation = g.Node("Tanh", [g.Node("Add", [
                    g.Node("Mul", [state, g.Constant("layer_scale", weights.LayerScale[layer], weights.HiddenSize)]),
                    g.Constant("layer_shift", weights.LayerShift[layer], weights.HiddenSize)])]);
                state = g.Node("Add", [state, activation]);
                layerOutputs.Add(state);
            }

            hidden = g.Node("LayerNormalization", [
                state,
                g.Constant("final_layer_norm_weight", weights.FinalNormScale, weights.HiddenSize),
                g.Constant("final_layer_norm_bias", weights.FinalNormBias, weights.HiddenSize)],
                OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", (float)DemoModelWeights.LayerNormEpsilon));
        }

        var pooled = g.Node("ReduceMean", [hidden], OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 0));

        if (textProjection is not null)
        {
            var embeds = g.Node("MatMul", [pooled, g.Constant("text_projection", textProjection.Weights, weights.HiddenSize, textProjection.Size)]);
            g.Output(g.CastTo(embeds, DataType.Float, signature.Float), "text_embeds", signature.Float, "batch", textProjection.SecondDimension);
        }

        g.Output(g.CastTo(hidden, DataType.Float, signature.Float), "last_hidden_state", signature.Float,
            "batch", signature.SequenceLength, (long)weights.HiddenSize);
        if (textProjection is null)
        {
            g.Output(g.CastTo(pooled, DataType.Float, signature.Float), "pooler_output", signature.Float,
                "batch", (long)weights.HiddenSize);
        }
        for (var i = 0; i < layerOutputs.Count; i++)
        {
            g.Output(g.CastTo(layerOutputs[i], DataType.Float, signature.Float), $"hidden_states.{i}", signature.Float,
                "batch", signature.SequenceLength, (long)weights.HiddenSize);
        }

        g.Save(path, DemoModelWriter.DemoModelNotice);
    }
}
