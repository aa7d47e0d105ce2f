using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.DemoModel;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

public sealed class DemoModelSignatureTests(DemoModelFolders folders) : IClassFixture<DemoModelFolders>
{
    private const int Dynamic = -1;

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Every_model_declares_the_names_element_types_and_shapes_of_its_flavour(DemoModelFlavor flavor)
    {
        var optimum = flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumLegacy or DemoModelFlavor.OptimumFp16;
        var ids = optimum ? TensorElementType.Int64 : TensorElementType.Int32;
        var real = flavor is DemoModelFlavor.OliveFp16 or DemoModelFlavor.OptimumFp16 ? TensorElementType.Float16 : TensorElementType.Float;
        var sequence = optimum ? Dynamic : 77;
        (TensorElementType Type, int[] Dims) timestep = flavor switch
        {
            DemoModelFlavor.Optimum or DemoModelFlavor.OptimumFp16 => (real, []),
            DemoModelFlavor.OptimumLegacy => (TensorElementType.Int64, [Dynamic]),
            _ => (real, [Dynamic]),
        };
        var encoded = flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumFp16
            ? ("latent_parameters", real, new[] { Dynamic, 8, Dynamic, Dynamic })
            : ("latent_sample", real, new[] { Dynamic, 4, Dynamic, Dynamic });

        AssertSignature(folders.ModelOf(flavor, "text_encoder"),
            [("input_ids", ids, [Dynamic, sequence])],
            [("last_hidden_state", real, [Dynamic, sequence, 768]), ("pooler_output", real, [Dynamic, 768])]);
        AssertSignature(folders.ModelOf(flavor, "unet"),
            [
                ("sample", real, [Dynamic, 4, Dynamic, Dynamic]),
                ("timestep", timestep.Type, timestep.Dims),
                ("encoder_hidden_states", real, [Dynamic, Dynamic, 768]),
            ],
            [("out_sample", real, [Dynamic, 4, Dynamic, Dynamic])]);
        AssertSignature(folders.ModelOf(flavor, "vae_decoder"),
            [("latent_sample", real, [Dynamic, 4, Dynamic, Dynamic])],
            [("sample", real, [Dynamic, 3, Dynamic, Dynamic])]);
        AssertSignature(folders.ModelOf(flavor, "vae_encoder"),
            [("sample", real, [Dynamic, 3, Dynamic, Dynamic])],
            [encoded]);
    }

    [Fact]
    public void Hidden_size_sets_the_width_of_the_text_embeddings()
    {
        using var directory = new TemporaryDirectory();
        DemoModelWriter.Write(directory.Path, new DemoModelOptions { HiddenSize = 1024 });

        using var textEncoder = new DemoModelSession(directory.Combine("text_encoder", "model.onnx"));
        using var unet = new DemoModelSession(directory.Combine("unet", "model.onnx"));
        Assert.Equal([Dynamic, Dynamic, 1024], textEncoder.Outputs["last_hidden_state"].Dimensions);
        Assert.Equal([Dynamic, Dynamic, 1024], unet.Inputs["encoder_hidden_states"].Dimensions);
    }

    private static void AssertSignature(
        string path,
        (string Name, TensorElementType Type, int[] Dims)[] inputs,
        (string Name, TensorElementType Type, int[] Dims)[] outputs)
    {
        using var session = new DemoModelSession(path);
        AssertNodes(path, inputs, session.Inputs);
        AssertNodes(path, outputs, session.Outputs);
    }

    private static void AssertNodes(
        string path,
        (string Name, TensorElementType Type, int[] Dims)[] expected,
        IReadOnlyDictionary<string, Microsoft.ML.OnnxRuntime.NodeMetadata> actual)
    {
        Assert.Equal(expected.Select(e => e.Name).Order(), actual.Keys.Order());
        foreach (var (name, type, dims) in expected)
        {
            var node = actual[name];
            Assert.True(node.IsTensor, $"{path}: {name} is a tensor");
            Assert.True(type == node.ElementDataType, $"{path}: {name} is {node.ElementDataType}, expected {type}");
            Assert.True(dims.SequenceEqual(node.Dimensions),
                $"{path}: {name} has dimensions [{string.Join(", ", node.Dimensions)}], expected [{string.Join(", ", dims)}]");
        }
    }
}
