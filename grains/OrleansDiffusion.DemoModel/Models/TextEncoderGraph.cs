using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// input_ids -> token embedding + position embedding -> MatMul to the hidden size -> Tanh = last_hidden_state;
/// pooler_output is its mean over the sequence.
/// </summary>
internal static class TextEncoderGraph
{
    public static void Write(string path, DemoModelSignature signature, DemoModelWeights weights)
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
        var hidden = g.Node("Tanh", [g.Node("MatMul", [g.Node("Add", [tokens, positions]), projection])]);
        var pooled = g.Node("ReduceMean", [hidden], OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 0));

        g.Output(g.CastTo(hidden, DataType.Float, signature.Float), "last_hidden_state", signature.Float,
            "batch", signature.SequenceLength, (long)weights.HiddenSize);
        g.Output(g.CastTo(pooled, DataType.Float, signature.Float), "pooler_output", signature.Float,
            "batch", (long)weights.HiddenSize);
        g.Save(path, DemoModelWriter.DemoModelNotice);
    }
}
