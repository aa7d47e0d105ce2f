using System.Text.Json.Nodes;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>What a folder is, its sizes and defaults, read from its files; the layouts that are refused, and why.</summary>
[Collection(XLDemoModelCollection.Name)]
public sealed class ModelFamilyTests(XLDemoModels models)
{
    public static TheoryData<DemoModelFlavor> Flavors() => new(XLDemoModels.Flavors);

    [Theory]
    [MemberData(nameof(Flavors))]
    public void An_SDXL_export_of_every_flavour_is_SDXL_with_its_size_rules_and_defaults(DemoModelFlavor flavor)
    {
        _ = models.Get(flavor); // written
        var folder = ModelFolder.Open(models.PathOf(flavor));

        Assert.Equal(ModelFamily.StableDiffusionXL, folder.Family);
        Assert.Equal("sdxl", ModelFamilies.Name(folder.Family));
        Assert.True(folder.IsXL);
        Assert.Equal(new ImageSizeRules(1024, 1024, 32, 64, 2048, 1024 * 1024), folder.SizeRules);
        Assert.Equal((20, 7.5f), (folder.DefaultSteps, folder.DefaultGuidanceScale));
        Assert.Equal(0.13025f, folder.VaeScalingFactor);
        Assert.True(folder.ForceZerosForEmptyPrompt);
        Assert.Equal((2, 3, 2), (folder.TextEncoderLayers, folder.TextEncoder2Layers, folder.MaxClipSkip));
        Assert.Equal(flavor != DemoModelFlavor.OliveFp16, folder.VaeForceUpcast);
    }

    [Fact]
    public void The_SD_demo_model_is_sd1_at_512_with_the_sizes_it_always_took()
    {
        using var directory = new TempDirectory();
        DemoModelWriter.Write(directory.Path);
        DemoModelWriter.Write(directory.Combine("sd2"), new DemoModelOptions { HiddenSize = 1024 });

        var sd1 = ModelFolder.Open(directory.Path);
        var sd2 = ModelFolder.Open(directory.Combine("sd2"));

        Assert.Equal((ModelFamily.StableDiffusion1, ModelFamily.StableDiffusion2), (sd1.Family, sd2.Family));
        Assert.Equal(new ImageSizeRules(512, 512, 8, 64, 1024, 1024 * 1024), sd1.SizeRules);
        Assert.Equal(0.18215f, sd1.VaeScalingFactor);
        Assert.False(sd1.ForceZerosForEmptyPrompt || sd1.IsXL);
        Assert.Equal((20, 7.5f), (sd1.DefaultSteps, sd1.DefaultGuidanceScale));
    }

    [Fact]
    public void The_UNet_config_sets_the_default_size_and_how_deep_the_UNet_is_sets_the_side_multiple()
    {
        var path = models.WriteCopy();
        var config = Path.Combine(path, "unet", "config.json");
        var unet = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        unet["sample_size"] = new JsonArray(96, 128);
        unet["down_block_types"] = new JsonArray("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D");
        File.WriteAllText(config, unet.ToJsonString());

        var folder = ModelFolder.Open(path);

        Assert.Equal((1024, 768, 64), (folder.SizeRules.DefaultWidth, folder.SizeRules.DefaultHeight, folder.SizeRules.Multiple));
        File.Delete(config);
        Assert.Equal((1024, 1024, 32), (ModelFolder.Open(path).SizeRules.DefaultWidth, ModelFolder.Open(path).SizeRules.DefaultHeight, ModelFolder.Open(path).SizeRules.Multiple));
    }

    [Fact]
    public void Without_VAE_configs_an_SDXL_export_takes_SDXLs_scaling_factor_and_upcasts()
    {
        var path = models.WriteCopy();
        File.Delete(Path.Combine(path, "vae_decoder", "config.json"));
        File.Delete(Path.Combine(path, "vae_encoder", "config.json"));

        var folder = ModelFolder.Open(path);

        Assert.Equal((0.13025f, true), (folder.VaeScalingFactor, folder.VaeForceUpcast));
    }

    [Fact]
    public void SDXL_Turbo_is_an_SDXL_export_with_trailing_timesteps_at_512()
    {
        _ = models.Get(DemoModelFlavor.Optimum, DemoModelFamily.StableDiffusionXLTurbo); // written
        var folder = ModelFolder.Open(models.PathOf(DemoModelFlavor.Optimum, DemoModelFamily.StableDiffusionXLTurbo));

        Assert.Equal(ModelFamily.StableDiffusionXLTurbo, folder.Family);
        Assert.Equal("sdxl-turbo", ModelFamilies.Name(folder.Family));
        Assert.Equal((512, 512, 32), (folder.SizeRules.DefaultWidth, folder.SizeRules.DefaultHeight, folder.SizeRules.Multiple));
        Assert.Equal((4, 0f), (folder.DefaultSteps, folder.DefaultGuidanceScale));
    }

    [Theory]
    [InlineData(1024, 1024, null)]
    [InlineData(1536, 640, null)]
    [InlineData(832, 1216, null)]
    [InlineData(64, 64, null)]
    [InlineData(72, 64, "not a multiple of 32")]
    [InlineData(2048, 1024, "more than 1048576 pixels")]
    [InlineData(2560, 256, "outside 64 to 2048")]
    [InlineData(32, 64, "outside 64 to 2048")]
    public void SDXL_size_rules_take_its_aspect_buckets_and_refuse_what_the_UNet_or_the_quotas_cannot(int width, int height, string? problem)
    {
        var rules = new ImageSizeRules(1024, 1024, 32, 64, 2048, 1024 * 1024);

        var found = rules.Problem(width, height);

        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.Contains(problem, found, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_SDXL_refiner_export_is_refused_as_such()
    {
        var noFirstEncoder = models.WriteCopy();
        Directory.Delete(Path.Combine(noFirstEncoder, "text_encoder"), recursive: true);
        var aesthetic = models.WriteCopy();
        var index = Path.Combine(aesthetic, "model_index.json");
        var json = JsonNode.Parse(File.ReadAllText(index))!.AsObject();
        json["requires_aesthetics_score"] = true;
        File.WriteAllText(index, json.ToJsonString());

        foreach (var path in new[] { noFirstEncoder, aesthetic })
        {
            var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));
            Assert.Contains("SDXL refiner", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_SDXL_export_without_its_second_tokenizer_names_what_is_missing()
    {
        var path = models.WriteCopy();
        File.Delete(Path.Combine(path, "tokenizer_2", "merges.txt"));

        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));

        Assert.Equal(Path.Combine(path, "tokenizer_2", "merges.txt"), error.Path);
    }

    [Fact]
    public void A_transformer_pipeline_is_refused_by_what_it_is()
    {
        var path = models.WriteCopy();
        Directory.Move(Path.Combine(path, "unet"), Path.Combine(path, "transformer"));

        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));

        Assert.Contains("transformer pipeline", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_olive_flavour_keeps_the_UNet_weights_as_external_data_beside_the_graph()
    {
        _ = models.Get(DemoModelFlavor.Olive); // written
        var unet = Path.Combine(models.PathOf(DemoModelFlavor.Olive), "unet");

        Assert.True(new FileInfo(Path.Combine(unet, "model.onnx.data")).Length > new FileInfo(Path.Combine(unet, "model.onnx")).Length);
        Assert.NotNull(models.Get(DemoModelFlavor.Olive).UNetSig.TextEmbeds);
    }
}
