using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.DemoModel;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

/// <summary>
/// Prompts encoded as AUTOMATIC1111 encodes them, checked against the text encoder run directly with the chunks' ids and
/// A1111's formulas worked here: chunks concatenated, weights with the mean restored, CLIP skip through the final norm.
/// </summary>
[Collection(DemoModelCollection.Name)]
public sealed class PromptEncodingTests(DemoModelFolders models)
{
    private const int Hidden = 768;
    private const int Chunk = 77 * Hidden;

    private static string Cats(int count) => string.Concat(Enumerable.Repeat("cat ", count));

    [Fact]
    public void An_unweighted_one_chunk_prompt_is_the_text_encoder_output()
    {
        var model = models.Get();

        var encoded = Encode(model, "a red fox in the snow");

        Assert.Equal(77, encoded.Sequence);
        AssertClose(Raw(model, model.Tokenizer.Tokenize("a red fox in the snow").Ids)["last_hidden_state"], encoded.Values, 1e-6);
    }

    [Fact]
    public void Weights_multiply_each_token_and_the_chunk_keeps_its_mean()
    {
        var model = models.Get();
        var chunk = Assert.Single(model.Tokenizer.Chunk("a (red:1.5) [fox] in the snow").Chunks);
        var raw = Raw(model, chunk.Ids)["last_hidden_state"];

        var encoded = Encode(model, "a (red:1.5) [fox] in the snow");

        var expected = raw.Select(v => (double)v).ToArray();
        var before = expected.Average();
        for (var t = 0; t < 77; t++)
        {
            for (var i = 0; i < Hidden; i++)
            {
                expected[(t * Hidden) + i] *= chunk.Weights[t];
            }
        }

        var after = expected.Average();
        AssertClose([.. expected.Select(v => (float)(v * before / after))], encoded.Values, 1e-5);
        Assert.Equal([1.0, 1.0, 1.5, 1 / 1.1], chunk.Weights[..4]);
    }

    [Fact]
    public void A_long_prompt_is_encoded_chunk_by_chunk_and_concatenated()
    {
        var model = models.Get();
        var prompt = Cats(70) + ", a red fox, " + Cats(30);
        var chunks = model.Tokenizer.Chunk(prompt).Chunks;

        var encoded = Encode(model, prompt);

        Assert.Equal(2, chunks.Count);
        Assert.Equal(2 * 77, encoded.Sequence);
        for (var c = 0; c < chunks.Count; c++)
        {
            AssertClose(Raw(model, chunks[c].Ids)["last_hidden_state"], encoded.Values.AsSpan(c * Chunk, Chunk).ToArray(), 1e-6);
        }
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum, 2, 1e-4)]
    [InlineData(DemoModelFlavor.Optimum, 3, 1e-4)]
    [InlineData(DemoModelFlavor.OliveFp16, 2, 3e-2)]
    public void Clip_skip_takes_an_earlier_layer_through_the_final_layer_norm(DemoModelFlavor flavor, int clipSkip, double tolerance)
    {
        var model = models.GetWithHiddenStates(flavor);
        var weights = new DemoModelWeights(Hidden, DemoModelOptions.DefaultSeed, DemoModelFolders.HiddenStateLayers);
        var ids = model.Tokenizer.Tokenize("a red fox in the snow").Ids;
        var raw = Raw(model, ids);

        var skipped = Encode(model, "a red fox in the snow", clipSkip);
        var last = Encode(model, "a red fox in the snow", 1);

        // A1111: hidden_states[-clipSkip] of the 4 (embeddings + 3 layers), then the norm with its own weights.
        var layer = raw[$"hidden_states.{DemoModelFolders.HiddenStateLayers + 1 - clipSkip}"];
        var expected = new float[layer.Length];
        for (var t = 0; t < 77; t++)
        {
            var row = layer.AsSpan(t * Hidden, Hidden).ToArray().Select(v => (double)v).ToArray();
            var mean = row.Average();
            var deviation = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average() + DemoModelWeights.LayerNormEpsilon);
            for (var i = 0; i < Hidden; i++)
            {
                expected[(t * Hidden) + i] = (float)(((row[i] - mean) / deviation * weights.FinalNormScale[i]) + weights.FinalNormBias[i]);
            }
        }

        AssertClose(expected, skipped.Values, tolerance);
        AssertClose(raw["last_hidden_state"], last.Values, 1e-6);
        Assert.True(MeanAbsoluteDifference(skipped.Values, last.Values) > 0.01, "an earlier layer encodes differently");
    }

    [Fact]
    public void Clip_skip_needs_hidden_states_and_stays_within_the_layers()
    {
        var plain = new DiffusionPipeline(models.Get());
        var layered = new DiffusionPipeline(models.GetWithHiddenStates());
        var request = new GenerationRequest { Prompt = "a cat", Steps = 2, Width = 64, Height = 64 };

        var missing = Assert.Throws<ArgumentException>(() => plain.Generate(request with { ClipSkip = 2 }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("hidden_states", missing.Message, StringComparison.Ordinal);
        var beyond = Assert.Throws<ArgumentException>(() => layered.Generate(request with { ClipSkip = 4 }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("3 layers", beyond.Message, StringComparison.Ordinal);
        Assert.Equal("ClipSkip", Assert.Throws<ArgumentException>(() => layered.Generate(request with { ClipSkip = 0 }, cancellationToken: TestContext.Current.CancellationToken)).ParamName);
        Assert.Single(layered.Generate(request with { ClipSkip = 3 }, cancellationToken: TestContext.Current.CancellationToken).Images);
    }

    [Fact]
    public void An_export_whose_last_state_is_not_the_norm_of_its_last_layer_refuses_clip_skip()
    {
        var folder = models.WriteCopy(DemoModelFlavor.Optimum, DemoModelFolders.HiddenStateLayers);
        OnnxEdit.Rewrite(Path.Combine(folder, "text_encoder", "model.onnx"), m => OnnxEdit.SwapOutputs(m, "hidden_states.3", "hidden_states.2"));
        using var model = DiffusionModel.Load(folder, new ExecutionOptions { IntraOpThreads = 1 });

        var error = Assert.Throws<InvalidModelException>(() => Encode(model, "a cat", 2));

        Assert.Contains("not a layer norm of hidden_states.3", error.Message, StringComparison.Ordinal);
        Assert.Equal(77, Encode(model, "a cat", 1).Sequence);
    }

    [Fact]
    public void Tokens_beyond_the_first_75_change_the_picture()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var request = new GenerationRequest { Steps = 4, Width = 64, Height = 64, Seed = 3, NegativePrompt = "" };

        var red = pipeline.Generate(request with { Prompt = Cats(75) + "a red fox" }, cancellationToken: TestContext.Current.CancellationToken);
        var blue = pipeline.Generate(request with { Prompt = Cats(75) + "a blue whale" }, cancellationToken: TestContext.Current.CancellationToken);

        // Cut off at 75 tokens, the two would be bit-identical; the 75 shared tokens dominate the demo model's tint, so
        // the change is small but clear.
        var difference = PngPixels.MeanDifference(red.Images[0].Png, blue.Images[0].Png);
        Assert.True(difference > 0.1, $"the second chunk is encoded, not cut off: {difference}");
    }

    [Fact]
    public void A_negative_prompt_longer_than_the_prompt_is_used_whole()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var request = new GenerationRequest { Prompt = "a lighthouse", Steps = 4, Width = 64, Height = 64, Seed = 3 };

        var green = pipeline.Generate(request with { NegativePrompt = Cats(80) + "green grass" }, cancellationToken: TestContext.Current.CancellationToken);
        var purple = pipeline.Generate(request with { NegativePrompt = Cats(80) + "purple rain" }, cancellationToken: TestContext.Current.CancellationToken);

        var difference = PngPixels.MeanDifference(green.Images[0].Png, purple.Images[0].Png);
        Assert.True(difference > 0.1, $"the negative prompt's second chunk is encoded: {difference}");
    }

    [Fact]
    public void Requests_of_different_lengths_in_one_batch_each_get_the_images_they_get_alone()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var shortPrompt = new GenerationRequest { Prompt = "a red fox", Steps = 5, Width = 64, Height = 64, Seed = 1 };
        var longPrompt = shortPrompt with { Prompt = Cats(90) + "a blue whale", Seed = 2, ImageCount = 2 };
        var twoChunkNegative = shortPrompt with { Prompt = "a green tree", NegativePrompt = Cats(100), Seed = 5 };
        var reports = new List<GenerationProgress>();

        var batch = pipeline.GenerateBatch([shortPrompt, longPrompt, twoChunkNegative], new SynchronousProgress(reports.Add), TestContext.Current.CancellationToken);

        Assert.Equal(Enumerable.Range(1, 6), reports.Select(r => r.Step)); // PNDM's 5 steps are 6 evaluations; reported once each
        var alone = new[] { shortPrompt, longPrompt, twoChunkNegative }.Select(r => pipeline.Generate(r, cancellationToken: TestContext.Current.CancellationToken)).ToList();
        for (var r = 0; r < 3; r++)
        {
            Assert.Equal(alone[r].Images.Select(i => i.Seed), batch[r].Images.Select(i => i.Seed));
            for (var i = 0; i < alone[r].Images.Count; i++)
            {
                Assert.True(PngPixels.MeanDifference(alone[r].Images[i].Png, batch[r].Images[i].Png) < 1.0, $"request {r} image {i}");
            }
        }
    }

    [Fact]
    public void Clip_skip_is_written_to_the_infotext_and_changes_the_picture()
    {
        var pipeline = new DiffusionPipeline(models.GetWithHiddenStates());
        var request = new GenerationRequest { Prompt = "a (red:1.2) fox", Steps = 4, Width = 64, Height = 64, Seed = 8 };

        var skipped = pipeline.Generate(request with { ClipSkip = 2 }, cancellationToken: TestContext.Current.CancellationToken).Images[0];
        var last = pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images[0];

        Assert.StartsWith("a (red:1.2) fox\n", skipped.Infotext, StringComparison.Ordinal);
        Assert.EndsWith(", Clip skip: 2", skipped.Infotext, StringComparison.Ordinal);
        Assert.Equal(skipped.Infotext, Engine.Imaging.PngEncoder.ReadParameters(skipped.Png));
        Assert.DoesNotContain("Clip skip", last.Infotext, StringComparison.Ordinal);
        Assert.True(PngPixels.MeanDifference(skipped.Png, last.Png) > 0.5);
    }

    [Fact]
    public void A_UNet_traced_with_77_tokens_takes_one_chunk_and_refuses_more()
    {
        var folder = models.WriteCopy(DemoModelFlavor.Diffusers);
        OnnxEdit.Rewrite(Path.Combine(folder, "unet", "model.onnx"), m => OnnxEdit.FixInputDimension(m, "encoder_hidden_states", 1, 77));
        using var model = DiffusionModel.Load(folder, new ExecutionOptions { IntraOpThreads = 1 });
        var pipeline = new DiffusionPipeline(model);
        var request = new GenerationRequest { Prompt = "a red fox", Steps = 2, Width = 64, Height = 64 };

        Assert.Single(pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images);
        var error = Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { Prompt = "a red BREAK fox" }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("exactly 77 text tokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prompt_with_a_bad_weight_is_refused_before_any_step()
    {
        var pipeline = new DiffusionPipeline(models.Get());
        var steps = 0;

        Assert.Throws<InvalidPromptException>(() => pipeline.Generate(
            new GenerationRequest { Prompt = "a (fox:1.2.3)", Steps = 2, Width = 64, Height = 64 },
            new SynchronousProgress(_ => steps++),
            TestContext.Current.CancellationToken));
        Assert.Equal(0, steps);
    }

    private static TextEmbedding Encode(DiffusionModel model, string prompt, int clipSkip = 1)
    {
        using var runOptions = new RunOptions();
        return new DiffusionPipeline(model).EncodeText(prompt, runOptions, clipSkip);
    }

    /// <summary>Every output of the model's text encoder for one row of ids, run outside the engine.</summary>
    private static IReadOnlyDictionary<string, float[]> Raw(DiffusionModel model, int[] ids)
    {
        using var session = new DemoModelSession(Path.Combine(model.Folder.Root, "text_encoder", "model.onnx"));
        return session.Run(("input_ids", [.. ids.Select(i => (double)i)], [1, ids.Length])).ToDictionary(p => p.Key, p => p.Value.Data);
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
