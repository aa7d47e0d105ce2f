using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Models;

/// <summary>
/// What a silo makes of a hires spec before it is queued: the hires size resolved and checked against the model, the
/// upscaler known by name, txt2img only, its own request key, batch key and cost.
/// </summary>
public sealed class ModelCatalogHiresTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly ModelCatalog _catalog;

    public ModelCatalogHiresTests()
    {
        DemoModelWriter.Write(_root.Combine("sd"));
        _catalog = new ModelCatalog(new DiffusionOptions { Models = [new ModelOptions { Id = "sd", Path = _root.Combine("sd") }] }, NullLogger.Instance);
    }

    public void Dispose() => _root.Dispose();

    private static GenerationSpec Spec(HiresSpec? hires = null) => new() { Model = "sd", Prompt = "a red fox", Seed = 1, Steps = 20, Width = 512, Height = 512, Hires = hires };

    [Fact]
    public void The_hires_size_is_resolved_and_a_resize_makes_the_scale_moot()
    {
        var scaled = _catalog.Normalize(Spec(new HiresSpec { Scale = 1.5f }));
        var resized = _catalog.Normalize(Spec(new HiresSpec { Scale = 3f, ResizeWidth = 1024, ResizeHeight = 768 }));
        var resizedOtherScale = _catalog.Normalize(Spec(new HiresSpec { Scale = 1.25f, ResizeWidth = 1024, ResizeHeight = 768 }));

        Assert.Equal((768, 768, 1.5f), (scaled.Hires!.Width, scaled.Hires.Height, scaled.Hires.Scale));
        Assert.Equal((1024, 768, 0f), (resized.Hires!.Width, resized.Hires.Height, resized.Hires.Scale));
        Assert.Equal(resized, resizedOtherScale);
        Assert.Equal(_catalog.KeyOf(resized, "k"), _catalog.KeyOf(resizedOtherScale, "k"));
        Assert.Equal(scaled, _catalog.Normalize(scaled));
    }

    [Fact]
    public void A_hires_spec_is_another_request_than_the_plain_one_and_batches_only_with_its_like()
    {
        var plain = _catalog.Normalize(Spec());
        var hires = _catalog.Normalize(Spec(new HiresSpec { Scale = 1.5f }));
        var stronger = _catalog.Normalize(Spec(new HiresSpec { Scale = 1.5f, DenoisingStrength = 0.5f }));
        var nearest = _catalog.Normalize(Spec(new HiresSpec { Scale = 1.5f, Upscaler = "Latent (nearest)" }));

        string[] keys = [_catalog.KeyOf(plain, "k"), _catalog.KeyOf(hires, "k"), _catalog.KeyOf(stronger, "k"), _catalog.KeyOf(nearest, "k")];
        Assert.Equal(keys.Length, keys.Distinct().Count());
        string?[] batches = [QueueEntry.BatchKeyOf(plain), QueueEntry.BatchKeyOf(hires), QueueEntry.BatchKeyOf(stronger), QueueEntry.BatchKeyOf(nearest)];
        Assert.Equal(batches.Length, batches.Distinct().Count());
    }

    [Fact]
    public void The_cost_adds_the_second_pass_steps_at_the_hires_size()
    {
        // 512 x 512 x 20 steps = 20 units; 1024 x 1024 x 20 (steps 0: the first pass's) = 80; x 10 steps = 40.
        Assert.Equal(20, QueueEntry.CostOf(_catalog.Normalize(Spec())));
        Assert.Equal(100, QueueEntry.CostOf(_catalog.Normalize(Spec(new HiresSpec { Scale = 2f }))));
        Assert.Equal(60, QueueEntry.CostOf(_catalog.Normalize(Spec(new HiresSpec { Scale = 2f, Steps = 10 }))));
        Assert.Equal(40, _catalog.Normalize(Spec(new HiresSpec { Scale = 2f, Steps = 20 })).StepsWithHires());
    }

    [Fact]
    public void A_hires_spec_crosses_silos_intact()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var spec = _catalog.Normalize(Spec(new HiresSpec { ResizeWidth = 768, Steps = 5, DenoisingStrength = 0.4f, Upscaler = "Latent (bicubic)" }));

        Assert.Equal(spec, serializer.Deserialize<GenerationSpec>(serializer.SerializeToArray(spec)));
    }

    [Fact]
    public void Refusals_name_the_hires_field()
    {
        Assert.Equal("Hires.Upscaler", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(new HiresSpec { Upscaler = "4x-UltraSharp" }))).ParamName);
        Assert.Equal("Hires", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(new HiresSpec()) with { InitImageKey = "input-1" })).ParamName);
        Assert.Equal("Hires.Scale", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(new HiresSpec { Scale = 3f }))).ParamName); // 1536 x 1536
        Assert.Equal("Hires.Strength", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(new HiresSpec { Steps = 150, DenoisingStrength = 0.05f }))).ParamName);
        Assert.Contains("Latent (nearest-exact)", Assert.Throws<ArgumentException>(() => _catalog.Normalize(Spec(new HiresSpec { Upscaler = "Lanczos" }))).Message, StringComparison.Ordinal);
    }
}
