using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.Models;

[Collection(DemoModelCollection.Name)]
public sealed class TextEncoderOutputsTests(DemoModelFolders models)
{
    public static TheoryData<DemoModelFlavor, int> FlavorsAndLayers()
    {
        var data = new TheoryData<DemoModelFlavor, int>();
        foreach (var flavor in DemoModelFolders.Flavors)
        {
            data.Add(flavor, 0);
            data.Add(flavor, DemoModelFolders.HiddenStateLayers);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FlavorsAndLayers))]
    public void Output_names_read_from_the_file_are_those_ONNX_Runtime_sees(DemoModelFlavor flavor, int layers)
    {
        var folder = models.WriteCopy(flavor, layers);
        var path = Path.Combine(folder, "text_encoder", "model.onnx");
        using var session = new InferenceSession(path);

        var names = TextEncoderOutputs.ReadOutputNames(path);

        Assert.Equal(session.OutputMetadata.Keys, names);
        Assert.Equal(layers == 0 ? null : layers, TextEncoderOutputs.LayerCount(names));
        var opened = ModelFolder.Open(folder);
        Assert.Equal(layers == 0 ? null : layers, opened.TextEncoderLayers);
        Assert.Equal(Math.Max(1, layers), opened.MaxClipSkip);
    }

    [Theory]
    [InlineData(new[] { "last_hidden_state", "pooler_output" }, null)]
    [InlineData(new[] { "last_hidden_state", "hidden_states.0", "hidden_states.1", "hidden_states.2" }, 2)]
    [InlineData(new[] { "hidden_states.0" }, null)]
    [InlineData(new[] { "hidden_states.0", "hidden_states.2" }, null)]
    [InlineData(new[] { "hidden_states.1", "hidden_states.2" }, null)]
    [InlineData(new[] { "hidden_states.0", "hidden_states.1", "hidden_states.x" }, 1)]
    public void The_layer_count_needs_every_hidden_state_from_the_embeddings_on(string[] names, int? layers)
    {
        Assert.Equal(layers, TextEncoderOutputs.LayerCount(names));
    }

    [Fact]
    public void A_file_that_is_not_ONNX_is_a_clear_error_naming_it()
    {
        var folder = models.WriteCopy(DemoModelFlavor.Optimum);
        var path = Path.Combine(folder, "text_encoder", "model.onnx");
        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]);

        Assert.Throws<InvalidDataException>(() => TextEncoderOutputs.ReadOutputNames(path));
        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(folder));
        Assert.Contains("text_encoder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_layer_norm_epsilon_comes_from_the_text_encoder_config()
    {
        var folder = models.WriteCopy(DemoModelFlavor.Optimum, DemoModelFolders.HiddenStateLayers);
        Assert.Equal(1e-5, ModelFolder.Open(folder).TextEncoderLayerNormEpsilon);

        var config = Path.Combine(folder, "text_encoder", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("1E-05", "1e-6", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(1e-6, ModelFolder.Open(folder).TextEncoderLayerNormEpsilon);

        File.WriteAllText(config, """{"layer_norm_eps": "small"}""");
        Assert.Throws<InvalidModelException>(() => ModelFolder.Open(folder));
    }
}
