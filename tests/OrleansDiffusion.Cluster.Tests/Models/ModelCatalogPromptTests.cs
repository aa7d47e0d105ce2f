using Microsoft.Extensions.Logging.Abstractions;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Models;

/// <summary>What a silo refuses before a request is queued: prompts it cannot read, a CLIP skip its model cannot run.</summary>
public sealed class ModelCatalogPromptTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly ModelCatalog _catalog;

    public ModelCatalogPromptTests()
    {
        DemoModelWriter.Write(_root.Combine("plain"));
        DemoModelWriter.Write(_root.Combine("layered"), new DemoModelOptions { TextEncoderLayers = 3 });
        _catalog = new ModelCatalog(
            new DiffusionOptions
            {
                Models =
                [
                    new ModelOptions { Id = "plain", Path = _root.Combine("plain") },
                    new ModelOptions { Id = "layered", Path = _root.Combine("layered") },
                ],
            },
            NullLogger.Instance);
    }

    private static GenerationSpec Spec(string model, int clipSkip = 1) => new() { Model = model, Prompt = "a (red:1.2) fox", Seed = 1, ClipSkip = clipSkip };

    [Fact]
    public void Clip_skip_runs_within_the_layers_of_a_text_encoder_with_hidden_states()
    {
        var normalized = _catalog.Normalize(Spec("layered", clipSkip: 3));

        Assert.Equal(3, normalized.ClipSkip);
        Assert.Equal(3, ModelCatalog.ToEngineRequest(normalized, initImage: null).ClipSkip);
        Assert.Contains("between 1 and 3", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec("layered", clipSkip: 4))).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec("layered", clipSkip: 0)));
    }

    [Fact]
    public void Clip_skip_is_refused_for_a_model_without_hidden_states_and_says_why()
    {
        Assert.Equal(1, _catalog.Normalize(Spec("plain")).ClipSkip);

        var error = Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec("plain", clipSkip: 2)));

        Assert.Equal("ClipSkip", error.ParamName);
        Assert.Contains("hidden_states", error.Message, StringComparison.Ordinal);
        Assert.Contains("'plain'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a (fox:1.2.3)", "", "Prompt")]
    [InlineData("a fox", "(blurry:.)", "NegativePrompt")]
    public void A_prompt_whose_attention_weight_is_not_a_number_is_refused(string prompt, string negative, string field)
    {
        var error = Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec("plain") with { Prompt = prompt, NegativePrompt = negative }));

        Assert.Equal(field, error.ParamName);
        Assert.Contains("is not a number", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _root.Dispose();
}
