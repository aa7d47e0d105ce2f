using System.Text.Json;
using OrleansDiffusion.DemoModel;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

public sealed class DemoModelFolderTests(DemoModelFolders folders) : IClassFixture<DemoModelFolders>
{
    private static readonly string[] CommonFiles =
    [
        "README.md",
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/model.onnx",
        "tokenizer/LICENSE.openai-CLIP",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "unet/model.onnx",
        "vae_decoder/model.onnx",
        "vae_encoder/model.onnx",
    ];

    private static readonly string[] ComponentConfigs =
        ["text_encoder/config.json", "unet/config.json", "vae_decoder/config.json", "vae_encoder/config.json"];

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void The_folder_has_the_diffusers_layout_with_component_configs_only_from_optimum(DemoModelFlavor flavor)
    {
        var expected = flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumLegacy or DemoModelFlavor.OptimumFp16
            ? [.. CommonFiles, .. ComponentConfigs]
            : CommonFiles;

        Assert.Equal(expected.Order(StringComparer.Ordinal), Files(folders.PathOf(flavor)));
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Writing_twice_gives_byte_identical_files(DemoModelFlavor flavor)
    {
        using var again = new TemporaryDirectory();
        DemoModelWriter.Write(again.Path, new DemoModelOptions { Flavor = flavor });

        var first = folders.PathOf(flavor);
        Assert.Equal(Files(first), Files(again.Path));
        foreach (var file in Files(first))
        {
            Assert.True(File.ReadAllBytes(Path.Combine(first, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(again.Path, file))),
                $"{file} differs between two writes");
        }
    }

    [Fact]
    public void Another_seed_gives_other_weights()
    {
        using var other = new TemporaryDirectory();
        DemoModelWriter.Write(other.Path, new DemoModelOptions { Seed = 7 });

        var original = File.ReadAllBytes(folders.ModelOf(DemoModelFlavor.Optimum, "text_encoder"));
        Assert.False(original.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(other.Path, "text_encoder", "model.onnx"))));
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void The_folder_stays_under_eight_megabytes(DemoModelFlavor flavor)
    {
        var size = new DirectoryInfo(folders.PathOf(flavor)).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

        Assert.InRange(size, 1, 8L * 1024 * 1024);
    }

    [Fact]
    public void Tokenizer_files_hold_the_full_clip_vocabulary_and_merges()
    {
        var tokenizer = Path.Combine(folders.PathOf(DemoModelFlavor.Optimum), "tokenizer");

        using var vocabulary = JsonDocument.Parse(File.ReadAllText(Path.Combine(tokenizer, "vocab.json")));
        var merges = File.ReadAllText(Path.Combine(tokenizer, "merges.txt")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var configuration = JsonDocument.Parse(File.ReadAllText(Path.Combine(tokenizer, "tokenizer_config.json")));
        using var specialTokens = JsonDocument.Parse(File.ReadAllText(Path.Combine(tokenizer, "special_tokens_map.json")));

        Assert.Equal(49408, vocabulary.RootElement.EnumerateObject().Count());
        Assert.Equal(49406, vocabulary.RootElement.GetProperty("<|startoftext|>").GetInt32());
        Assert.Equal(49407, vocabulary.RootElement.GetProperty("<|endoftext|>").GetInt32());
        Assert.Equal("#version: 0.2", merges[0]);
        Assert.Equal(48894, merges.Length - 1);
        Assert.Equal(77, configuration.RootElement.GetProperty("model_max_length").GetInt32());
        Assert.Equal("CLIPTokenizer", configuration.RootElement.GetProperty("tokenizer_class").GetString());
        Assert.Equal("<|startoftext|>", specialTokens.RootElement.GetProperty("bos_token").GetProperty("content").GetString());
        Assert.Equal("<|endoftext|>", specialTokens.RootElement.GetProperty("eos_token").GetProperty("content").GetString());
        Assert.Equal("<|endoftext|>", specialTokens.RootElement.GetProperty("pad_token").GetString());
        Assert.Equal("<|endoftext|>", specialTokens.RootElement.GetProperty("unk_token").GetProperty("content").GetString());
        Assert.Equal(
            File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "LICENSE.openai-CLIP")),
            File.ReadAllText(Path.Combine(tokenizer, "LICENSE.openai-CLIP")));
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum, "ORTStableDiffusionPipeline")]
    [InlineData(DemoModelFlavor.OptimumLegacy, "ORTStableDiffusionPipeline")]
    [InlineData(DemoModelFlavor.Diffusers, "OnnxStableDiffusionPipeline")]
    [InlineData(DemoModelFlavor.OliveFp16, "OnnxStableDiffusionPipeline")]
    public void The_folder_says_plainly_that_it_is_a_demo_model(DemoModelFlavor flavor, string pipeline)
    {
        var folder = folders.PathOf(flavor);
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "model_index.json")));

        Assert.Equal(pipeline, index.RootElement.GetProperty("_class_name").GetString());
        Assert.Equal("OrleansDiffusion tiny demo model - NOT Stable Diffusion", index.RootElement.GetProperty("_demo_model").GetString());
        foreach (var component in new[] { "scheduler", "text_encoder", "tokenizer", "unet", "vae_decoder", "vae_encoder" })
        {
            Assert.Equal(2, index.RootElement.GetProperty(component).GetArrayLength());
        }

        var readme = File.ReadAllText(Path.Combine(folder, "README.md"));
        Assert.Contains("demo model", readme, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("NOT Stable Diffusion", readme, StringComparison.Ordinal);
    }

    [Fact]
    public void Scheduler_config_has_the_stable_diffusion_1_5_pndm_values()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folders.PathOf(DemoModelFlavor.Diffusers), "scheduler", "scheduler_config.json")));
        var root = config.RootElement;

        Assert.Equal("PNDMScheduler", root.GetProperty("_class_name").GetString());
        Assert.Equal(0.00085, root.GetProperty("beta_start").GetDouble());
        Assert.Equal(0.012, root.GetProperty("beta_end").GetDouble());
        Assert.Equal("scaled_linear", root.GetProperty("beta_schedule").GetString());
        Assert.Equal(1000, root.GetProperty("num_train_timesteps").GetInt32());
        Assert.True(root.GetProperty("skip_prk_steps").GetBoolean());
        Assert.Equal(1, root.GetProperty("steps_offset").GetInt32());
        Assert.False(root.GetProperty("set_alpha_to_one").GetBoolean());
        Assert.False(root.GetProperty("clip_sample").GetBoolean());
        Assert.Equal("epsilon", root.GetProperty("prediction_type").GetString());
    }

    [Fact]
    public void Component_configs_give_the_hidden_size_and_the_vae_scaling_factor()
    {
        var folder = folders.PathOf(DemoModelFlavor.OptimumLegacy);
        double Read(string component, string property)
        {
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, component, "config.json")));
            return config.RootElement.GetProperty(property).GetDouble();
        }

        Assert.Equal(768, Read("text_encoder", "hidden_size"));
        Assert.Equal(768, Read("unet", "cross_attention_dim"));
        Assert.Equal(0.18215, Read("vae_decoder", "scaling_factor"));
        Assert.Equal(0.18215, Read("vae_encoder", "scaling_factor"));
    }

    [Theory]
    [InlineData("optimum", DemoModelFlavor.Optimum)]
    [InlineData("optimum-legacy", DemoModelFlavor.OptimumLegacy)]
    [InlineData("diffusers", DemoModelFlavor.Diffusers)]
    [InlineData("olive-fp16", DemoModelFlavor.OliveFp16)]
    [InlineData("Olive-FP16", DemoModelFlavor.OliveFp16)]
    [InlineData("optimum-fp16", DemoModelFlavor.OptimumFp16)]
    [InlineData("olive", DemoModelFlavor.Olive)]
    public void Flavour_names_parse_and_print_back(string name, DemoModelFlavor flavor)
    {
        Assert.True(DemoModelWriter.TryParseFlavor(name, out var parsed));
        Assert.Equal(flavor, parsed);
        Assert.Equal(flavor, DemoModelWriter.ParseFlavor(name));
        Assert.Equal(name.ToLowerInvariant(), DemoModelWriter.FlavorName(flavor));
    }

    [Fact]
    public void An_unknown_flavour_name_is_rejected_with_the_known_ones()
    {
        Assert.False(DemoModelWriter.TryParseFlavor("onnx", out _));
        var error = Assert.Throws<ArgumentException>(() => DemoModelWriter.ParseFlavor("onnx"));
        Assert.Contains("optimum-legacy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_rejected_before_anything_is_written()
    {
        using var directory = new TemporaryDirectory();

        Assert.Throws<ArgumentOutOfRangeException>(() => DemoModelWriter.Write(directory.Path, new DemoModelOptions { HiddenSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => DemoModelWriter.Write(directory.Path, new DemoModelOptions { UNetExtraConvLayers = -1 }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory.Path));
    }

    private static string[] Files(string root) =>
    [
        .. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal),
    ];
}
