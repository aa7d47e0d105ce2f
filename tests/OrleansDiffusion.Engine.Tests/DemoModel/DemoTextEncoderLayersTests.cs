using OrleansDiffusion.DemoModel;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>The demo text encoder built as CLIP's is (layers, final layer norm) with optimum's hidden-state outputs.</summary>
public sealed class DemoTextEncoderLayersTests
{
    private const int Layers = 3;
    private const int Hidden = 768;

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.Diffusers)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void With_layers_it_outputs_every_hidden_state_and_normalises_the_last_one(DemoModelFlavor flavor)
    {
        using var directory = new TemporaryDirectory();
        DemoModelWriter.Write(directory.Path, new DemoModelOptions { Flavor = flavor, TextEncoderLayers = Layers });
        using var session = new DemoModelSession(directory.Combine("text_encoder", "model.onnx"));
        var weights = new DemoModelWeights(Hidden, DemoModelOptions.DefaultSeed, Layers);
        var ids = DemoPrompts.ACat.Select(v => (int)v).ToArray();
        var tolerance = flavor == DemoModelFlavor.OliveFp16 ? 2e-2 : 1e-4;

        Assert.Equal(["last_hidden_state", "pooler_output", "hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3"], session.Outputs.Keys);
        var outputs = session.Run(("input_ids", DemoPrompts.ACat, [1, 77]));

        var reference = weights.LayerStates(ids);
        for (var layer = 0; layer <= Layers; layer++)
        {
            var actual = outputs[$"hidden_states.{layer}"];
            Assert.Equal([1, 77, Hidden], actual.Shape);
            AssertClose(reference[layer], actual.Data, tolerance * (1 + layer));
        }

        // last_hidden_state = final_layer_norm(hidden_states.3), with the norm's own weights.
        var last = outputs["last_hidden_state"].Data;
        var state = outputs["hidden_states.3"].Data;
        var normalised = new double[last.Length];
        for (var p = 0; p < 77; p++)
        {
            var row = state.AsSpan(p * Hidden, Hidden).ToArray().Select(v => (double)v).ToArray();
            var mean = row.Average();
            var deviation = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average() + DemoModelWeights.LayerNormEpsilon);
            for (var i = 0; i < Hidden; i++)
            {
                normalised[(p * Hidden) + i] = ((row[i] - mean) / deviation * weights.FinalNormScale[i]) + weights.FinalNormBias[i];
            }
        }

        AssertClose(normalised, last, 10 * tolerance);
        AssertClose([.. weights.HiddenStates(ids).Select(v => (double)v)], last, 10 * tolerance);
    }

    [Fact]
    public void Without_layers_it_has_no_hidden_state_outputs()
    {
        using var directory = new TemporaryDirectory();
        DemoModelWriter.Write(directory.Path);
        using var session = new DemoModelSession(directory.Combine("text_encoder", "model.onnx"));

        Assert.Equal(["last_hidden_state", "pooler_output"], session.Outputs.Keys);
    }

    [Fact]
    public void A_negative_layer_count_is_refused()
    {
        using var directory = new TemporaryDirectory();

        Assert.Throws<ArgumentOutOfRangeException>(() => DemoModelWriter.Write(directory.Path, new DemoModelOptions { TextEncoderLayers = -1 }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory.Path));
    }

    private static void AssertClose(double[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
