using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// Encodes prompts as AUTOMATIC1111 does: the prompt's chunks (<see cref="ClipTokenizer.Chunk"/>) are encoded one by
/// one, with CLIP skip (an earlier layer's states through the final layer norm) where asked, weighted by
/// <see cref="Emphasis.ApplyOriginal"/>, and concatenated along the sequence, 77 tokens per chunk. One instance serves
/// one run; it keeps the empty chunk's encoding, which pads the shorter of a prompt and its negative.
/// </summary>
/// <remarks>
/// SDXL (A1111's <c>sd_models_xl.py</c> and diffusers' SDXL pipeline): each tokenizer cuts the prompt into its own chunks
/// (the same tokens; the second pads with <c>!</c> after the end token), each encoder encodes each chunk, the penultimate
/// layer's states (no final layer norm) are weighted per encoder and concatenated on the channel axis, CLIP-L first; the
/// pooled <c>text_embeds</c> come from the second encoder on chunk 0. CLIP skip N reads <c>hidden_states[-(N + 1)]</c> of
/// both encoders (diffusers' <c>clip_skip = N - 1</c>, applied to the negative prompt too).
/// </remarks>
internal sealed class PromptEncoder(DiffusionModel model, RunOptions runOptions)
{
    private const int ChunkTokens = ClipTokenizer.SequenceLength;

    // Prompts the final layer norm is recovered from: the empty chunk, and words at every place of another.
    private const string LayerNormFitPrompt = "a photo of a cat sitting on a wooden table, masterpiece, best quality, highly detailed, oil painting";

    private readonly Dictionary<int, float[]> _emptyChunks = [];

    /// <summary>Encodes <paramref name="prompt"/> with CLIP skip <paramref name="clipSkip"/> (1: none).</summary>
    /// <exception cref="ArgumentException">The prompt's syntax is bad, or the model cannot run that CLIP skip.</exception>
    public TextEmbedding Encode(string prompt, int clipSkip)
    {
        RequireClipSkip(model, clipSkip);
        if (model.IsXL)
        {
            return EncodeXL(prompt, clipSkip);
        }

        var chunks = model.Tokenizer.Chunk(prompt).Chunks;
        if (chunks.Count == 1)
        {
            // Most prompts: the chunk's states are the embedding, without a copy.
            var states = EncodeChunk(chunks[0], clipSkip);
            return new TextEmbedding(states, ChunkTokens, states.Length / ChunkTokens);
        }

        float[]? values = null;
        var hidden = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var encoded = EncodeChunk(chunks[i], clipSkip);
            hidden = encoded.Length / ChunkTokens;
            values ??= new float[chunks.Count * encoded.Length];
            encoded.CopyTo(values, i * encoded.Length);
        }

        return new TextEmbedding(values!, chunks.Count * ChunkTokens, hidden);
    }

    /// <summary>
    /// A prompt and its negative prompt in one batch-2 text encoder call, when each is one chunk and the export's batch
    /// axis is dynamic; null otherwise (the caller encodes them one by one). The states are those of two batch-1 calls,
    /// up to the order of floating-point sums inside ONNX Runtime.
    /// </summary>
    public (TextEmbedding Prompt, TextEmbedding Negative)? TryEncodePair(string prompt, string negativePrompt, int clipSkip)
    {
        if (model.IsXL || model.InputIds.Dimensions[0] > 0)
        {
            return null;
        }

        RequireClipSkip(model, clipSkip);
        var first = model.Tokenizer.Chunk(prompt).Chunks;
        var second = model.Tokenizer.Chunk(negativePrompt).Chunks;
        if (first.Count != 1 || second.Count != 1 || first[0].Ids.Length != second[0].Ids.Length)
        {
            return null;
        }

        var output = model.ClipSkipOutput(clipSkip);
        var length = first[0].Ids.Length;
        using var input = new TensorBuffer(model.InputIds.ElementType, [2, length]);
        input.WriteIds(0, first[0].Ids);
        input.WriteIds(length, second[0].Ids);
        using var results = model.TextEncoder.Session.Run(runOptions, [model.InputIds.Name], [input.Value], [output.Name]);
        var shape = results[0].GetTensorTypeAndShape().Shape;
        if (shape.Length != 3 || shape[0] != 2 || shape[1] != length)
        {
            throw new InvalidModelException(model.TextEncoder.Path, $"{output.Name} came back as [{string.Join(", ", shape)}], expected [2, {length}, hidden].");
        }

        // The pair's arrays are pooled: the run returns them when it ends (TextEmbedding.FromPool).
        var size = (int)(shape[1] * shape[2]);
        var a = ExactArrayPool.Rent(size);
        var b = ExactArrayPool.Rent(size);
        if (results[0].GetTensorTypeAndShape().ElementDataType == TensorElementType.Float16)
        {
            var half = results[0].GetTensorDataAsSpan<Float16>();
            TensorBuffer.ReadFloat(half, 0, a);
            TensorBuffer.ReadFloat(half, size, b);
        }
        else
        {
            var floats = results[0].GetTensorDataAsSpan<float>();
            floats[..size].CopyTo(a);
            floats.Slice(size, size).CopyTo(b);
        }

        Finish(a, first[0], clipSkip);
        Finish(b, second[0], clipSkip);
        return (new TextEmbedding(a, ChunkTokens, size / ChunkTokens) { FromPool = true }, new TextEmbedding(b, ChunkTokens, size / ChunkTokens) { FromPool = true });
    }

    /// <summary>
    /// <paramref name="embedding"/> with empty chunks appended up to <paramref name="chunks"/>, as A1111 pads the shorter of
    /// a prompt and its negative prompt.
    /// </summary>
    public TextEmbedding PadTo(TextEmbedding embedding, int chunks, int clipSkip)
    {
        if (embedding.Chunks >= chunks)
        {
            return embedding;
        }

        if (!_emptyChunks.TryGetValue(clipSkip, out var empty))
        {
            _emptyChunks[clipSkip] = empty = model.IsXL
                ? EncodeChunkXL(model.Tokenizer.Chunk(string.Empty).Chunks[0], model.Tokenizer2!.Chunk(string.Empty).Chunks[0], clipSkip, pooled: false).States
                : EncodeChunk(model.Tokenizer.Chunk(string.Empty).Chunks[0], clipSkip);
        }

        var values = new float[chunks * empty.Length];
        embedding.Values.CopyTo(values, 0);
        for (var i = embedding.Chunks; i < chunks; i++)
        {
            empty.CopyTo(values, i * empty.Length);
        }

        return embedding with { Values = values, Sequence = chunks * ChunkTokens, FromPool = false };
    }

    /// <summary>Throws when <paramref name="clipSkip"/> is below 1 or beyond what the model's text encoder outputs.</summary>
    public static void RequireClipSkip(DiffusionModel model, int clipSkip)
    {
        if (clipSkip < 1)
        {
            throw new ArgumentException($"CLIP skip must be at least 1 (1 uses the last layer), not {clipSkip}.", nameof(clipSkip));
        }

        if (clipSkip > model.MaxClipSkip && model.IsXL)
        {
            throw new ArgumentException($"CLIP skip {clipSkip} is beyond this SDXL model's text encoders: it reads hidden_states[-(N + 1)] of both, so at most {model.MaxClipSkip}.", nameof(clipSkip));
        }

        if (clipSkip > model.MaxClipSkip)
        {
            throw new ArgumentException(model.TextEncoderLayers is { } layers
                ? $"CLIP skip {clipSkip} is beyond this model's text encoder, which has {layers} layers."
                : $"CLIP skip {clipSkip} needs a text encoder export with its hidden states (outputs hidden_states.0 ... hidden_states.N, as optimum exports them with hidden states); model '{model.Folder.Name}' has only last_hidden_state.",
                nameof(clipSkip));
        }
    }

    private TextEmbedding EncodeXL(string prompt, int clipSkip)
    {
        var chunks = model.Tokenizer.Chunk(prompt).Chunks;
        var chunks2 = model.Tokenizer2!.Chunk(prompt).Chunks;
        if (chunks.Count != chunks2.Count)
        {
            throw new InvalidModelException(model.Folder.Tokenizer2Directory, $"cuts the prompt into {chunks2.Count} chunks where tokenizer/ cuts it into {chunks.Count}: the two tokenizers must share their vocabulary.");
        }

        if (chunks.Count == 1)
        {
            var (states, firstPooled) = EncodeChunkXL(chunks[0], chunks2[0], clipSkip, pooled: true);
            return new TextEmbedding(states, ChunkTokens, states.Length / ChunkTokens) { Pooled = firstPooled };
        }

        float[]? values = null;
        float[]? pooled = null;
        for (var i = 0; i < chunks.Count; i++)
        {
            var (states, chunkPooled) = EncodeChunkXL(chunks[i], chunks2[i], clipSkip, pooled: i == 0);
            values ??= new float[chunks.Count * states.Length];
            states.CopyTo(values, i * states.Length);
            pooled ??= chunkPooled;
        }

        return new TextEmbedding(values!, chunks.Count * ChunkTokens, values!.Length / (chunks.Count * ChunkTokens)) { Pooled = pooled };
    }

    /// <summary>One chunk through both SDXL encoders: [77, hidden1 + hidden2] states, each encoder's part weighted on its own.</summary>
    private (float[] States, float[]? Pooled) EncodeChunkXL(PromptChunk first, PromptChunk second, int clipSkip, bool pooled)
    {
        var a = Run(model.TextEncoder, model.InputIds, first.Ids, model.XLHiddenOutput(second: false, clipSkip))[0];
        var b = pooled
            ? Run(model.TextEncoder2!, model.InputIds2!, second.Ids, model.XLHiddenOutput(second: true, clipSkip), model.TextEmbeds!)
            : Run(model.TextEncoder2!, model.InputIds2!, second.Ids, model.XLHiddenOutput(second: true, clipSkip));
        var hidden1 = a.Length / ChunkTokens;
        var hidden2 = b[0].Length / ChunkTokens;
        if (!first.IsUnweighted)
        {
            Emphasis.ApplyOriginal(a, first.Weights, hidden1);
        }

        if (!second.IsUnweighted)
        {
            Emphasis.ApplyOriginal(b[0], second.Weights, hidden2);
        }

        var states = new float[ChunkTokens * (hidden1 + hidden2)];
        for (var t = 0; t < ChunkTokens; t++)
        {
            a.AsSpan(t * hidden1, hidden1).CopyTo(states.AsSpan(t * (hidden1 + hidden2)));
            b[0].AsSpan(t * hidden2, hidden2).CopyTo(states.AsSpan((t * (hidden1 + hidden2)) + hidden1));
        }

        return (states, pooled ? b[1] : null);
    }

    private float[] EncodeChunk(PromptChunk chunk, int clipSkip)
    {
        var states = Run(model.TextEncoder, model.InputIds, chunk.Ids, model.ClipSkipOutput(clipSkip))[0];
        Finish(states, chunk, clipSkip);
        return states;
    }

    /// <summary>A chunk's raw states to its embedding: the final layer norm under CLIP skip, then the emphasis weights.</summary>
    private void Finish(float[] states, PromptChunk chunk, int clipSkip)
    {
        if (clipSkip > 1)
        {
            model.GetFinalLayerNorm(FitFinalLayerNorm).Apply(states);
        }

        if (!chunk.IsUnweighted)
        {
            Emphasis.ApplyOriginal(states, chunk.Weights, states.Length / ChunkTokens);
        }
    }

    private FinalLayerNorm FitFinalLayerNorm()
    {
        var last = model.ClipSkipOutput(1);
        var deepest = model.TextEncoder.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + model.TextEncoderLayers!.Value, 3);
        var before = new List<float>();
        var after = new List<float>();
        foreach (var ids in new[] { model.Tokenizer.Chunk(string.Empty).Chunks[0].Ids, model.Tokenizer.Chunk(LayerNormFitPrompt).Chunks[0].Ids })
        {
            var outputs = Run(model.TextEncoder, model.InputIds, ids, last, deepest);
            after.AddRange(outputs[0]);
            before.AddRange(outputs[1]);
        }

        var hidden = before.Count / (2 * ChunkTokens);
        var norm = FinalLayerNorm.Fit([.. before], [.. after], hidden, model.Folder.TextEncoderLayerNormEpsilon, out var error);
        var tolerance = last.IsFloat16 || deepest.IsFloat16 ? 2e-2 : 1e-3;
        if (!(error <= tolerance))
        {
            throw new InvalidModelException(model.TextEncoder.Path, $"{last.Name} is not a layer norm of {deepest.Name} (relative error {error:G3}), so CLIP skip cannot apply the final layer norm on this export.");
        }

        return norm;
    }

    /// <summary>
    /// Runs a text encoder on one chunk's ids and returns the requested outputs as floats: [77 x hidden] for token states,
    /// [size] for a pooled output.
    /// </summary>
    private float[][] Run(OnnxComponent encoder, TensorSpec inputIds, int[] ids, params TensorSpec[] outputs)
    {
        using var input = new TensorBuffer(inputIds.ElementType, [1, ids.Length]);
        input.WriteIds(0, ids);
        using var results = encoder.Session.Run(runOptions, [inputIds.Name], [input.Value], [.. outputs.Select(o => o.Name)]);
        var values = new float[outputs.Length][];
        for (var i = 0; i < outputs.Length; i++)
        {
            var shape = results[i].GetTensorTypeAndShape().Shape;
            var pooled = outputs[i].Rank == 2;
            if (pooled ? shape.Length != 2 || shape[0] != 1 : shape.Length != 3 || shape[0] != 1 || shape[1] != ids.Length)
            {
                throw new InvalidModelException(encoder.Path, $"{outputs[i].Name} came back as [{string.Join(", ", shape)}], expected [1, {(pooled ? "size" : $"{ids.Length}, hidden")}].");
            }

            values[i] = ReadFloats(results[i]);
        }

        return values;
    }

    private static float[] ReadFloats(OrtValue value)
    {
        if (value.GetTensorTypeAndShape().ElementDataType == TensorElementType.Float16)
        {
            var half = value.GetTensorDataAsSpan<Float16>();
            var result = new float[half.Length];
            TensorBuffer.ReadFloat(half, 0, result);
            return result;
        }

        return value.GetTensorDataAsSpan<float>().ToArray();
    }
}
