using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Tests.DemoModel;

namespace OrleansDiffusion.Engine.Tests.Models;

/// <summary>The header reader sees what ONNX Runtime sees, without loading the model.</summary>
public sealed class OnnxGraphHeaderTests : IDisposable
{
    private readonly TempDirectory _root = new();

    public void Dispose() => _root.Dispose();

    public static TheoryData<DemoModelFlavor, int, bool> Exports()
    {
        var data = new TheoryData<DemoModelFlavor, int, bool>();
        foreach (var flavor in DemoModelFolders.Flavors)
        {
            data.Add(flavor, 0, false);
            data.Add(flavor, DemoModelOptions.LcmGuidanceEmbeddingSize, false);
            data.Add(flavor, 0, true);
        }

        data.Add(DemoModelFlavor.Optimum, 7, true); // an odd width is zero-padded
        return data;
    }

    [Theory]
    [MemberData(nameof(Exports))]
    public void Every_graph_input_reads_as_onnx_runtime_declares_it(DemoModelFlavor flavor, int guidanceEmbedding, bool inpainting)
    {
        var path = _root.Combine($"{flavor}-{guidanceEmbedding}-{inpainting}");
        DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, GuidanceEmbeddingSize = guidanceEmbedding, Inpainting = inpainting });

        foreach (var component in new[] { "text_encoder", "unet", "vae_decoder", "vae_encoder" })
        {
            var file = Path.Combine(path, component, "model.onnx");
            using var session = new DemoModelSession(file);

            var read = OnnxGraphHeader.Read(file).Inputs;

            Assert.Equal(session.Inputs.Keys, read.Select(i => i.Name));
            foreach (var input in read)
            {
                Assert.Equal(session.Inputs[input.Name].ElementDataType, input.ElementType);
                Assert.Equal(session.Inputs[input.Name].Dimensions, input.Dimensions);
            }
        }

        var kind = UNetKind.Read(Path.Combine(path, "unet", "model.onnx"));
        Assert.Equal(new UNetKind(inpainting ? 9 : 4, guidanceEmbedding), kind);
        Assert.Equal(inpainting, kind.Inpainting);
        Assert.Equal(guidanceEmbedding > 0, kind.Lcm);
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_a_clear_error()
    {
        var file = _root.Combine("model.onnx");
        File.WriteAllBytes(file, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);

        var error = Assert.Throws<InvalidModelException>(() => UNetKind.Read(file));

        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains("cannot read its ONNX inputs", error.Message, StringComparison.Ordinal);
    }
}
