using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.DemoModel.XL;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.DemoModel;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>
/// SDXL's text conditioning, checked against both text encoders run directly with each tokenizer's ids, and against the
/// demo model's own double-precision formulas: penultimate states of both concatenated (first encoder first), the
/// second tokenizer padding with <c>!</c>, <c>text_embeds</c> from chunk 0, A1111's weights per encoder.
/// </summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class XLPromptEncodingTests(XLDemoModels models)
{
    private const int Tokens = 77;
    private const int Hidden1 = XLWeights.Hidden1;
    private const int Hidden2 = XLWeights.Hidden2;
    private const int Hidden = Hidden1 + Hidden2;

    [Fact]
    public void The_second_tokenizer_pads_with_exclamation_marks_after_the_end_token()
    {
        var model = models.Get();

        var first = model.Tokenizer.Chunk("a cat").Chunks[0].Ids;
        var second = model.Tokenizer2!.Chunk("a cat").Chunks[0].Ids;

        Assert.Equal([49406, 320, 2368, 49407, 49407, 49407], first[..6]);
        Assert.Equal([49406, 320, 2368, 49407, 0, 0], second[..6]);
        Assert.All(second[4..], id => Assert.Equal(0, id));
    }

    [Fact]
    public void A_bang_in_the_prompt_is_a_token_as_OpenCLIP_reads_it_not_padding()
    {
        var model = models.Get();

        var second = model.Tokenizer2!.Chunk("wow!").Chunks[0].Ids;

        Assert.Equal(model.Tokenizer.Chunk("wow!").Chunks[0].Ids[..3], second[..3]);
        Assert.NotEqual(0, second[2]);
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum, 1e-5)]
    [InlineData(DemoModelFlavor.Olive, 1e-5)]
    [InlineData(DemoModelFlavor.OliveFp16, 1e-2)]
    public void The_empty_prompt_is_both_encoders_penultimate_states_and_the_second_ones_text_embeds(DemoModelFlavor flavor, double tolerance)
    {
        var weights = new XLWeights(DemoModelOptions.DefaultSeed, XLDemoModels.Layers);

        var encoded = Encode(models.Get(flavor), string.Empty);

        Assert.Equal((Tokens, Hidden), (encoded.Sequence, encoded.Hidden));
        AssertClose(weights.EmptyHiddenStates, encoded.Values, tolerance);
        AssertClose(weights.EmptyPooled, encoded.Pooled!, tolerance);
    }

    [Fact]
    public void A_prompt_is_each_encoders_penultimate_layer_on_its_own_ids_concatenated_first_encoder_first()
    {
        var model = models.Get();
        var ids = model.Tokenizer.Chunk("a red fox in the snow").Chunks[0].Ids;
        var ids2 = model.Tokenizer2!.Chunk("a red fox in the snow").Chunks[0].Ids;
        var first = Raw(model, "text_encoder", ids);
        var second = Raw(model, "text_encoder_2", ids2);

        var encoded = Encode(model, "a red fox in the snow");

        // hidden_states[-2]: .1 of the first encoder's 0..2, .2 of the second's 0..3.
        AssertClose(Concatenate(first["hidden_states.1"], second["hidden_states.2"]), encoded.Values, 1e-6);
        AssertClose(second["text_embeds"], encoded.Pooled!, 1e-6);
        Assert.True(MeanAbsoluteDifference(Concatenate(first["hidden_states.2"], second["hidden_states.3"]), encoded.Values) > 0.01, "not the last layer");
    }

    [Fact]
    public void Weights_apply_to_each_encoders_states_with_each_ones_mean_restored_and_leave_text_embeds_alone()
    {
        var model = models.Get();
        const string prompt = "a (red:1.5) [fox] in the snow";
        var chunk = model.Tokenizer.Chunk(prompt).Chunks[0];
        var chunk2 = model.Tokenizer2!.Chunk(prompt).Chunks[0];
        var plain = Encode(model, "a red fox in the snow");

        var encoded = Encode(model, prompt);

        var first = Weighted(Raw(model, "text_encoder", chunk.Ids)["hidden_states.1"], chunk.Weights, Hidden1);
        var second = Weighted(Raw(model, "text_encoder_2", chunk2.Ids)["hidden_states.2"], chunk2.Weights, Hidden2);
        AssertClose(Concatenate(first, second), encoded.Values, 1e-5);
        AssertClose(plain.Pooled!, encoded.Pooled!, 1e-6);
    }

    [Fact]
    public void A_long_prompt_is_encoded_chunk_by_chunk_and_pooled_from_its_first_chunk()
    {
        var model = models.Get();
        var prompt = string.Concat(Enumerable.Repeat("cat ", 70)) + ", a red fox, " + string.Concat(Enumerable.Repeat("dog ", 30));
        var chunks = model.Tokenizer.Chunk(prompt).Chunks;
        var chunks2 = model.Tokenizer2!.Chunk(prompt).Chunks;

        var encoded = Encode(model, prompt);

        Assert.Equal(2, chunks.Count);
        Assert.Equal(2 * Tokens, encoded.Sequence);
        for (var c = 0; c < 2; c++)
        {
            var expected = Concatenate(Raw(model, "text_encoder", chunks[c].Ids)["hidden_states.1"], Raw(model, "text_encoder_2", chunks2[c].Ids)["hidden_states.2"]);
            AssertClose(expected, encoded.Values.AsSpan(c * Tokens * Hidden, Tokens * Hidden).ToArray(), 1e-6);
        }

        AssertClose(Raw(model, "text_encoder_2", chunks2[0].Ids)["text_embeds"], encoded.Pooled!, 1e-6);
    }

    [Fact]
    public void Clip_skip_reads_one_layer_earlier_of_both_encoders_without_a_final_norm()
    {
        var model = models.Get();
        var ids = model.Tokenizer.Chunk("a red fox").Chunks[0].Ids;
        var ids2 = model.Tokenizer2!.Chunk("a red fox").Chunks[0].Ids;

        var skipped = Encode(model, "a red fox", clipSkip: 2);

        AssertClose(Concatenate(Raw(model, "text_encoder", ids)["hidden_states.0"], Raw(model, "text_encoder_2", ids2)["hidden_states.1"]), skipped.Values, 1e-6);
        Assert.Equal(2, model.MaxClipSkip);
        var error = Assert.Throws<ArgumentException>(() => Encode(model, "a red fox", clipSkip: 3));
        Assert.Contains("at most 2", error.Message, StringComparison.Ordinal);
    }

    private static TextEmbedding Encode(DiffusionModel model, string prompt, int clipSkip = 1)
    {
        using var runOptions = new RunOptions();
        return new DiffusionPipeline(model).EncodeText(prompt, runOptions, clipSkip);
    }

    /// <summary>Every output of one of the model's text encoders for one row of ids, run outside the engine.</summary>
    private static Dictionary<string, float[]> Raw(DiffusionModel model, string encoder, int[] ids)
    {
        using var session = new DemoModelSession(Path.Combine(model.Folder.Root, encoder, "model.onnx"));
        return session.Run(("input_ids", [.. ids.Select(i => (double)i)], [1, ids.Length])).ToDictionary(p => p.Key, p => p.Value.Data);
    }

    /// <summary>[77, a] and [77, b] side by side: [77, a + b].</summary>
    private static float[] Concatenate(float[] first, float[] second)
    {
        var a = first.Length / Tokens;
        var b = second.Length / Tokens;
        var result = new float[Tokens * (a + b)];
        for (var t = 0; t < Tokens; t++)
        {
            first.AsSpan(t * a, a).CopyTo(result.AsSpan(t * (a + b)));
            second.AsSpan(t * b, b).CopyTo(result.AsSpan((t * (a + b)) + a));
        }

        return result;
    }

    /// <summary>A1111's "Original" emphasis worked here: each token times its weight, then the chunk's mean restored.</summary>
    private static float[] Weighted(float[] states, double[] weights, int hidden)
    {
        var values = states.Select(v => (double)v).ToArray();
        var before = values.Average();
        for (var t = 0; t < Tokens; t++)
        {
            for (var i = 0; i < hidden; i++)
            {
                values[(t * hidden) + i] *= weights[t];
            }
        }

        var after = values.Average();
        return [.. values.Select(v => (float)(v * before / after))];
    }

    private static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static double MeanAbsoluteDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();
}
