using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Tests.DemoModel;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>
/// The SDXL-shaped demo exports declare what optimum's <c>model_configs.py</c> and Olive's SDXL configs declare: names,
/// element types, which axes are dynamic; and ship the files and JSON keys those exports ship.
/// </summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class XLDemoModelSignatureTests(XLDemoModels models)
{
    private const int Dynamic = -1;
    private const int Hidden = 80;

    public static TheoryData<DemoModelFlavor> Flavors() => new(XLDemoModels.Flavors);

    [Theory]
    [MemberData(nameof(Flavors))]
    public void Every_SDXL_model_declares_the_names_element_types_and_shapes_of_its_flavour(DemoModelFlavor flavor)
    {
        var path = models.PathOf(flavor);
        _ = models.Get(flavor); // written
        var olive = flavor is DemoModelFlavor.Olive or DemoModelFlavor.OliveFp16;
        var real = flavor is DemoModelFlavor.OliveFp16 or DemoModelFlavor.OptimumFp16 ? TensorElementType.Float16 : TensorElementType.Float;
        (TensorElementType Type, int[] Dims) timestep = flavor switch
        {
            DemoModelFlavor.Optimum or DemoModelFlavor.OptimumFp16 => (real, []),
            DemoModelFlavor.OptimumLegacy => (TensorElementType.Int64, [Dynamic]),
            _ => (real, [Dynamic]),
        };
        var channels = olive ? Dynamic : 4;
        string Model(string component) => Path.Combine(path, component, "model.onnx");
        (string, TensorElementType, int[])[] HiddenStates(int layers, int width) =>
            [.. Enumerable.Range(0, layers + 1).Select(i => ($"hidden_states.{i}", real, new[] { Dynamic, Dynamic, width }))];

        AssertSignature(Model("text_encoder"),
            [("input_ids", olive ? TensorElementType.Int32 : TensorElementType.Int64, [Dynamic, Dynamic])],
            [("last_hidden_state", real, [Dynamic, Dynamic, 32]), ("pooler_output", real, [Dynamic, 32]), .. HiddenStates(2, 32)]);
        AssertSignature(Model("text_encoder_2"),
            [("input_ids", TensorElementType.Int64, [Dynamic, Dynamic])],
            [("text_embeds", real, [Dynamic, olive ? 40 : Dynamic]), ("last_hidden_state", real, [Dynamic, Dynamic, 48]), .. HiddenStates(3, 48)]);
        AssertSignature(Model("unet"),
            [
                ("sample", real, [Dynamic, channels, Dynamic, Dynamic]),
                ("timestep", timestep.Type, timestep.Dims),
                ("encoder_hidden_states", real, [Dynamic, Dynamic, Hidden]),
                ("text_embeds", real, [Dynamic, olive ? Dynamic : 40]),
                ("time_ids", real, [Dynamic, olive ? Dynamic : 6]),
            ],
            [("out_sample", real, [Dynamic, channels, Dynamic, Dynamic])]);
        AssertSignature(Model("vae_decoder"),
            [("latent_sample", real, [Dynamic, 4, Dynamic, Dynamic])],
            [("sample", real, [Dynamic, 3, Dynamic, Dynamic])]);
        AssertSignature(Model("vae_encoder"),
            [("sample", real, [Dynamic, 3, Dynamic, Dynamic])],
            [flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumFp16 ? ("latent_parameters", real, [Dynamic, 8, Dynamic, Dynamic]) : ("latent_sample", real, [Dynamic, 4, Dynamic, Dynamic])]);
        Assert.Equal(olive, File.Exists(Path.Combine(path, "unet", "model.onnx.data")));
    }

    [Fact]
    public void The_folder_has_both_tokenizers_both_encoders_and_the_SDXL_configs()
    {
        var path = models.PathOf(DemoModelFlavor.Optimum);
        _ = models.Get();
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "model_index.json")));
        using var tokenizer2 = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "tokenizer_2", "special_tokens_map.json")));
        using var tokenizer = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "tokenizer", "special_tokens_map.json")));
        using var vae = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "vae_decoder", "config.json")));
        using var unet = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "unet", "config.json")));
        using var scheduler = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "scheduler", "scheduler_config.json")));

        Assert.Equal("ORTStableDiffusionXLPipeline", index.RootElement.GetProperty("_class_name").GetString());
        Assert.True(index.RootElement.GetProperty("force_zeros_for_empty_prompt").GetBoolean());
        Assert.Equal("!", tokenizer2.RootElement.GetProperty("pad_token").GetString());
        Assert.Equal("<|endoftext|>", tokenizer.RootElement.GetProperty("pad_token").GetString());
        Assert.Equal(0.13025, vae.RootElement.GetProperty("scaling_factor").GetDouble());
        Assert.True(vae.RootElement.GetProperty("force_upcast").GetBoolean());
        Assert.Equal("text_time", unet.RootElement.GetProperty("addition_embed_type").GetString());
        Assert.Equal(128, unet.RootElement.GetProperty("sample_size").GetInt32());
        Assert.Equal("EulerDiscreteScheduler", scheduler.RootElement.GetProperty("_class_name").GetString());
        Assert.Equal("leading", scheduler.RootElement.GetProperty("timestep_spacing").GetString());
    }

    [Fact]
    public void The_diffusers_script_flavour_has_no_SDXL_export()
    {
        using var directory = new TempDirectory();

        var error = Assert.Throws<ArgumentException>(() => DemoModelWriter.Write(directory.Path, new DemoModelOptions { Family = DemoModelFamily.StableDiffusionXL, Flavor = DemoModelFlavor.Diffusers }));

        Assert.Contains("does not export SDXL", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory.Path));
    }

    [Theory]
    [InlineData(DemoModelFamily.StableDiffusionXL)]
    [InlineData(DemoModelFamily.StableDiffusionXLTurbo)]
    public void Writing_an_SDXL_model_twice_gives_byte_identical_files(DemoModelFamily family)
    {
        using var first = new TempDirectory();
        using var second = new TempDirectory();
        DemoModelWriter.Write(first.Path, new DemoModelOptions { Family = family, Flavor = DemoModelFlavor.Olive });
        DemoModelWriter.Write(second.Path, new DemoModelOptions { Family = family, Flavor = DemoModelFlavor.Olive });

        var files = Directory.EnumerateFiles(first.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(first.Path, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Contains(Path.Combine("text_encoder_2", "model.onnx"), files);
        foreach (var file in files)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(first.Path, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(second.Path, file))), $"{file} differs");
        }

        Assert.InRange(files.Sum(f => new FileInfo(Path.Combine(first.Path, f)).Length), 1, 12L * 1024 * 1024);
    }

    /// <summary>
    /// What the file declares (ONNX Runtime would show outputs with the sizes its shape inference finds merged in): the
    /// inputs and outputs in order, each name's element type and dimensions, -1 where symbolic.
    /// </summary>
    private static void AssertSignature(string path, (string Name, TensorElementType Type, int[] Dims)[] inputs, (string Name, TensorElementType Type, int[] Dims)[] outputs)
    {
        using (new DemoModelSession(path))
        {
            // ONNX Runtime loads it.
        }

        var header = OnnxGraphHeader.Read(path);
        foreach (var (expected, actual) in new[] { (inputs, header.Inputs), (outputs, header.Outputs) })
        {
            Assert.Equal(expected.Select(e => e.Name), actual.Select(a => a.Name));
            foreach (var ((name, type, dims), declared) in expected.Zip(actual))
            {
                Assert.True(type == declared.ElementType, $"{path}: {name} is {declared.ElementType}, expected {type}");
                Assert.True(dims.SequenceEqual(declared.Dimensions), $"{path}: {name} has [{string.Join(", ", declared.Dimensions)}], expected [{string.Join(", ", dims)}]");
            }
        }
    }
}
