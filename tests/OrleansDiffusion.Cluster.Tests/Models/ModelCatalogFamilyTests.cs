using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Info;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Models;

/// <summary>
/// What a silo makes of a spec for models of different families before it is queued: the model's own size where the
/// spec names none, sizes the family cannot generate refused, SDXL's size conditioning resolved into the request key.
/// </summary>
public sealed class ModelCatalogFamilyTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly ModelCatalog _catalog;

    public ModelCatalogFamilyTests()
    {
        DemoModelWriter.Write(_root.Combine("sdxl"), new DemoModelOptions { Family = DemoModelFamily.StableDiffusionXL, Flavor = DemoModelFlavor.OliveFp16 });
        DemoModelWriter.Write(_root.Combine("sd"));
        _catalog = new ModelCatalog(
            new DiffusionOptions
            {
                Models =
                [
                    new ModelOptions { Id = "sdxl", Path = _root.Combine("sdxl") },
                    new ModelOptions { Id = "sd", Path = _root.Combine("sd") },
                ],
            },
            NullLogger.Instance);
    }

    public void Dispose() => _root.Dispose();

    private static GenerationSpec Spec(string model) => new() { Model = model, Prompt = "a red fox", Seed = 1 };

    [Fact]
    public void A_spec_without_a_size_gets_the_models_own_and_SDXL_diffusers_default_conditioning()
    {
        var sdxl = _catalog.Normalize(Spec("sdxl") with { Width = 0, Height = 0 });
        var sd = _catalog.Normalize(Spec("sd") with { Width = 0, Height = 0 });

        Assert.Equal((1024, 1024), (sdxl.Width, sdxl.Height));
        Assert.Equal(new PixelSize(1024, 1024), sdxl.OriginalSize);
        Assert.Equal(new CropOrigin(0, 0), sdxl.CropsCoordsTopLeft);
        Assert.Equal(new PixelSize(1024, 1024), sdxl.TargetSize);
        Assert.Equal((512, 512), (sd.Width, sd.Height));
        Assert.Null(sd.OriginalSize);
        Assert.Null(ModelCatalog.ToEngineRequest(sd, initImage: null).SizeConditioning);
        Assert.Equal(
            new Engine.Pipeline.SizeConditioning(1024, 1024, 0, 0, 1024, 1024),
            ModelCatalog.ToEngineRequest(sdxl, initImage: null).SizeConditioning);
    }

    [Fact]
    public void Given_conditioning_is_kept_and_the_rest_resolved_so_that_explicit_defaults_are_the_same_request()
    {
        var spec = Spec("sdxl") with { Width = 832, Height = 1216 };

        var absent = _catalog.Normalize(spec);
        var explicitDefaults = _catalog.Normalize(spec with { OriginalSize = new PixelSize(1216, 832), TargetSize = new PixelSize(1216, 832) });
        var cropped = _catalog.Normalize(spec with { CropsCoordsTopLeft = new CropOrigin(16, 8) });

        Assert.Equal(absent, explicitDefaults);
        Assert.Equal(_catalog.KeyOf(absent, "k"), _catalog.KeyOf(explicitDefaults, "k"));
        Assert.Equal((new PixelSize(1216, 832), new CropOrigin(16, 8)), (cropped.OriginalSize, cropped.CropsCoordsTopLeft));
        Assert.NotEqual(_catalog.KeyOf(absent, "k"), _catalog.KeyOf(cropped, "k"));
    }

    [Fact]
    public void An_SD_models_request_key_is_what_it_was_before_size_conditioning()
    {
        var normalized = _catalog.Normalize(Spec("sd") with { Width = 512, Height = 512 });

        // No conditioning field is written for SD specs: their keys, and the results cached under them, stay valid.
        Assert.Equal(_catalog.KeyOf(normalized, "k"), RequestKey.Compute(normalized with { OriginalSize = null }, _catalog.Get("sd").Hash));
        Assert.NotEqual(
            RequestKey.Compute(normalized, _catalog.Get("sd").Hash),
            RequestKey.Compute(normalized with { OriginalSize = new PixelSize(512, 512), CropsCoordsTopLeft = new CropOrigin(0, 0), TargetSize = new PixelSize(512, 512) }, _catalog.Get("sd").Hash));
    }

    [Theory]
    [InlineData("sdxl", 72, 1024, "Width", "not a multiple of 32")]
    [InlineData("sdxl", 1024, 1056, "Height", "more than 1048576 pixels")]
    [InlineData("sd", 1536, 512, "Width", "outside 64 to 1024")]
    public void A_size_the_family_cannot_generate_is_refused_naming_the_side_and_the_models_own_size(string model, int width, int height, string field, string problem)
    {
        var error = Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(model) with { Width = width, Height = height }));

        Assert.Equal(field, error.ParamName);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains("its own size is", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_SD_model_refuses_size_conditioning_naming_the_field()
    {
        var error = Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec("sd") with { CropsCoordsTopLeft = new CropOrigin(0, 0) }));

        Assert.Equal("CropsCoordsTopLeft", error.ParamName);
        Assert.Contains("(sd1) has none", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_info_describes_the_family_defaults_sizes_and_support_from_the_folder()
    {
        var sdxl = ModelInfoGrain.Describe(_catalog.Get("sdxl"), _catalog.DefaultModelId);

        Assert.True(sdxl.IsDefault);
        Assert.Equal("sdxl", sdxl.Family);
        Assert.Equal(new ModelDefaults(1024, 1024, 20, 7.5f), sdxl.Defaults);
        Assert.Equal(new ModelSizes(32, 64, 2048, 1024 * 1024), sdxl.Sizes);
        Assert.Equal(new ModelSupport(2, NegativePrompt: true, Guidance: true, Img2Img: true, SizeConditioning: true), sdxl.Supports);
        Assert.Equal(new ModelSupport(1, true, true, true, false), ModelInfoGrain.Describe(_catalog.Get("sd"), _catalog.DefaultModelId).Supports);
    }

    [Fact]
    public void The_spec_with_its_conditioning_and_the_model_info_cross_silos_intact()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var spec = _catalog.Normalize(Spec("sdxl") with { Width = 64, Height = 64, CropsCoordsTopLeft = new CropOrigin(8, 16) });
        var info = ModelInfoGrain.Describe(_catalog.Get("sdxl"), _catalog.DefaultModelId);

        Assert.Equal(spec, serializer.Deserialize<GenerationSpec>(serializer.SerializeToArray(spec)));
        Assert.Equal(info, serializer.Deserialize<ModelInfo>(serializer.SerializeToArray(info)));
    }
}
