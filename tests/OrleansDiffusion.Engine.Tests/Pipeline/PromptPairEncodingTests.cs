using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

[Collection(DemoModelCollection.Name)]
public sealed class PromptPairEncodingTests(DemoModelFolders models)
{
    [Theory]
    [InlineData(DemoModelFlavor.Optimum, 1e-5)]
    [InlineData(DemoModelFlavor.OliveFp16, 2e-3)]
    public void One_batch_two_call_gives_the_embeddings_of_two_batch_one_calls(DemoModelFlavor flavor, double tolerance)
    {
        var model = models.Get(flavor);
        using var runOptions = new RunOptions();
        var encoder = new PromptEncoder(model, runOptions);

        var pair = encoder.TryEncodePair("a (red:1.3) barn in a [field]", "fog, blurry", clipSkip: 1);

        Assert.NotNull(pair);
        var (prompt, negative) = pair.Value;
        AssertClose(encoder.Encode("a (red:1.3) barn in a [field]", 1), prompt, tolerance);
        AssertClose(encoder.Encode("fog, blurry", 1), negative, tolerance);
    }

    [Fact]
    public void Prompts_of_several_chunks_are_encoded_one_by_one()
    {
        using var runOptions = new RunOptions();
        var encoder = new PromptEncoder(models.Get(), runOptions);

        Assert.Null(encoder.TryEncodePair("a barn BREAK a field", "fog", clipSkip: 1));
    }

    [Fact]
    public void A_text_encoder_traced_with_batch_one_falls_back_to_two_calls()
    {
        using var directory = new TempDirectory();
        DemoModelWriter.Write(directory.Path, new DemoModelOptions());
        OnnxBatch.Fix(directory.Combine("text_encoder", "model.onnx"), 1);
        using var model = DiffusionModel.Load(directory.Path, new ExecutionOptions { IntraOpThreads = 1 });
        using var runOptions = new RunOptions();

        Assert.Null(new PromptEncoder(model, runOptions).TryEncodePair("a barn", "fog", clipSkip: 1));

        // The whole pipeline still runs with guidance: a batch-2 call would be refused by this export.
        var result = new DiffusionPipeline(model).Generate(
            new GenerationRequest { Prompt = "a barn", NegativePrompt = "fog", Steps = 2, Width = 64, Height = 64, Seed = 3 },
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Single(result.Images);
    }

    private static void AssertClose(TextEmbedding expected, TextEmbedding actual, double tolerance)
    {
        Assert.Equal(expected.Sequence, actual.Sequence);
        Assert.Equal(expected.Hidden, actual.Hidden);
        Assert.Equal(expected.Values.Length, actual.Values.Length);
        var worst = 0.0;
        for (var i = 0; i < expected.Values.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected.Values[i] - actual.Values[i]) / Math.Max(1.0, Math.Abs(expected.Values[i])));
        }

        Assert.True(worst <= tolerance, $"largest difference {worst:G3}, tolerance {tolerance:G3}");
    }
}
