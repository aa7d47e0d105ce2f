using Microsoft.Extensions.Logging.Abstractions;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Models;

/// <summary>
/// The catalog knows each model's UNet from its file at start (inpainting, LCM), gives an LCM UNet the LCM scheduler,
/// checks a mask's fields at submission and keys a result by its mask.
/// </summary>
public sealed class ModelCatalogInpaintingTests : IDisposable
{
    private const string Init = "inputs/1111111111111111111111111111111111111111111111111111111111111111";
    private const string MaskA = "inputs/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string MaskB = "inputs/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private readonly TempDirectory _root = new();
    private readonly ModelCatalog _catalog;

    public ModelCatalogInpaintingTests()
    {
        DemoModelWriter.Write(_root.Combine("plain"));
        DemoModelWriter.Write(_root.Combine("inpainting"), new DemoModelOptions { Inpainting = true });
        DemoModelWriter.Write(_root.Combine("lcm"), new DemoModelOptions { GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize });
        DemoModelWriter.Write(_root.Combine("no-encoder"), new DemoModelOptions { Inpainting = true });
        Directory.Delete(_root.Combine("no-encoder", "vae_encoder"), recursive: true);

        // The LCM export names PNDM in its folder: its UNet decides.
        File.Copy(_root.Combine("plain", "scheduler", "scheduler_config.json"), _root.Combine("lcm", "scheduler", "scheduler_config.json"), overwrite: true);
        var options = new DiffusionOptions
        {
            Models = [.. new[] { "plain", "inpainting", "lcm", "no-encoder" }.Select(id => new ModelOptions { Id = id, Path = _root.Combine(id) })],
        };
        _catalog = new ModelCatalog(options, NullLogger.Instance);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Each_models_unet_is_read_from_its_file_at_start()
    {
        Assert.False(_catalog.Get("plain").UNet.Inpainting);
        Assert.True(_catalog.Get("inpainting").UNet.Inpainting);
        Assert.True(_catalog.Get("lcm").UNet.Lcm);
        Assert.Equal(256, _catalog.Get("lcm").UNet.GuidanceEmbeddingSize);
        Assert.Equal("lcm", _catalog.Normalize(new GenerationSpec { Model = "lcm", Prompt = "a", Steps = 4 }).Scheduler);
        Assert.Equal("pndm", _catalog.Normalize(new GenerationSpec { Model = "plain", Prompt = "a" }).Scheduler);
    }

    [Fact]
    public void A_mask_needs_an_init_image_a_known_fill_and_a_padding_within_the_image()
    {
        var masked = new GenerationSpec { Model = "plain", Prompt = "a", InitImageKey = Init, MaskKey = MaskA, Width = 64, Height = 64 };

        Assert.Equal("MaskKey", Assert.Throws<ArgumentException>(() => _catalog.Normalize(masked with { InitImageKey = null })).ParamName);
        Assert.Equal("InpaintFill", Assert.Throws<ArgumentException>(() => _catalog.Normalize(masked with { InpaintFill = "sideways" })).ParamName);
        Assert.Equal("InpaintPadding", Assert.Throws<ArgumentException>(() => _catalog.Normalize(masked with { InpaintOnlyMasked = true, InpaintPadding = 65 })).ParamName);
        Assert.Equal("latent_noise", _catalog.Normalize(masked with { InpaintFill = "latent_noise" }).InpaintFill);
    }

    [Fact]
    public void A_model_without_a_vae_encoder_refuses_images_and_cannot_run_an_inpainting_unet()
    {
        var error = Assert.Throws<ArgumentException>(() => _catalog.Normalize(new GenerationSpec { Model = "no-encoder", Prompt = "a" }));

        Assert.Contains("vae_encoder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_mask_and_its_use_are_in_the_request_key_and_nothing_of_them_without_a_mask()
    {
        var img2img = _catalog.Normalize(new GenerationSpec { Model = "plain", Prompt = "a", Seed = 1, InitImageKey = Init });
        var masked = _catalog.Normalize(img2img with { MaskKey = MaskA });
        string Key(GenerationSpec spec) => _catalog.KeyOf(_catalog.Normalize(spec), "k");

        Assert.NotEqual(Key(img2img), Key(masked));
        Assert.NotEqual(Key(masked), Key(masked with { MaskKey = MaskB }));
        Assert.NotEqual(Key(masked), Key(masked with { InpaintFill = "fill" }));
        Assert.NotEqual(Key(masked with { InpaintOnlyMasked = true }), Key(masked));
        Assert.NotEqual(Key(masked with { InpaintOnlyMasked = true, InpaintPadding = 8 }), Key(masked with { InpaintOnlyMasked = true }));

        // Inpainting fields without a mask, and a padding without "only masked", change nothing.
        Assert.Equal(Key(img2img), Key(img2img with { InpaintFill = "latent_nothing", InpaintOnlyMasked = true, InpaintPadding = 8 }));
        Assert.Equal(Key(masked), Key(masked with { InpaintPadding = 8 }));
    }
}
