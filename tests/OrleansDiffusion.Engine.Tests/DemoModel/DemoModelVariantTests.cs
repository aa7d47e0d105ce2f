using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>The generator's LCM and inpainting UNets have the signatures and files of the real exports.</summary>
public sealed class DemoModelVariantTests : IDisposable
{
    private const int Dynamic = -1;
    private readonly TemporaryDirectory _root = new();

    public void Dispose() => _root.Dispose();

    public static TheoryData<DemoModelFlavor> Flavors => DemoModelFolders.Flavors;

    [Theory]
    [MemberData(nameof(Flavors))]
    public void An_lcm_unet_takes_a_guidance_embedding_and_ships_with_the_lcm_scheduler(DemoModelFlavor flavor)
    {
        var path = Write(flavor, new DemoModelOptions { Flavor = flavor, GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize });

        using var unet = new DemoModelSession(Path.Combine(path, "unet", "model.onnx"));
        var cond = unet.Inputs["timestep_cond"];
        Assert.Equal(flavor is DemoModelFlavor.OliveFp16 or DemoModelFlavor.OptimumFp16 ? TensorElementType.Float16 : TensorElementType.Float, cond.ElementDataType);
        Assert.Equal([Dynamic, 256], cond.Dimensions);
        Assert.Equal([Dynamic, 4, Dynamic, Dynamic], unet.Inputs["sample"].Dimensions);
        using var scheduler = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "scheduler", "scheduler_config.json")));
        Assert.Equal("LCMScheduler", scheduler.RootElement.GetProperty("_class_name").GetString());
        Assert.Equal(50, scheduler.RootElement.GetProperty("original_inference_steps").GetInt32());
        if (flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumLegacy)
        {
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "unet", "config.json")));
            Assert.Equal(256, config.RootElement.GetProperty("time_cond_proj_dim").GetInt32());
        }
    }

    [Theory]
    [MemberData(nameof(Flavors))]
    public void An_inpainting_unet_takes_nine_channels_and_returns_four(DemoModelFlavor flavor)
    {
        var path = Write(flavor, new DemoModelOptions { Flavor = flavor, Inpainting = true });

        using var unet = new DemoModelSession(Path.Combine(path, "unet", "model.onnx"));
        Assert.Equal([Dynamic, 9, Dynamic, Dynamic], unet.Inputs["sample"].Dimensions);
        Assert.Equal([Dynamic, 4, Dynamic, Dynamic], unet.Outputs["out_sample"].Dimensions);
        Assert.False(unet.Inputs.ContainsKey("timestep_cond"));
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "model_index.json")));
        Assert.Contains("Inpaint", index.RootElement.GetProperty("_class_name").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_inpainting_unet_keeps_the_masked_image_where_the_mask_is_zero()
    {
        var path = Write(DemoModelFlavor.Optimum, new DemoModelOptions { Inpainting = true });
        using var unet = new DemoModelSession(Path.Combine(path, "unet", "model.onnx"));
        const int Plane = 8 * 8;
        var sample = new double[9 * Plane];
        var random = new Random(3);
        for (var i = 0; i < 4 * Plane; i++)
        {
            sample[i] = random.NextDouble() - 0.5;
        }

        // Mask: the left half repaints; masked-image latents: 0.7 in every channel where it keeps.
        for (var p = 0; p < Plane; p++)
        {
            sample[(4 * Plane) + p] = p % 8 < 4 ? 1 : 0;
            for (var c = 0; c < 4; c++)
            {
                sample[((5 + c) * Plane) + p] = p % 8 < 4 ? 0 : 0.7;
            }
        }

        // At t = 0 (alphas_cumprod ~ 1) the predicted noise is (sample - x0) / max(n, 0.05).
        var noise = unet.Run(("sample", sample, [1, 9, 8, 8]), ("timestep", [0], []), ("encoder_hidden_states", new double[77 * 768], [1, 77, 768]))["out_sample"];

        Assert.Equal([1, 4, 8, 8], noise.Shape);
        // alphas_cumprod[0] = 1 - 0.00085: the noise level sqrt(0.00085) is below the floor of 0.05 the UNet divides by.
        var signal = Math.Sqrt(1 - 0.00085);
        for (var c = 0; c < 4; c++)
        {
            for (var p = 0; p < Plane; p++)
            {
                if (p % 8 >= 4)
                {
                    var i = (c * Plane) + p;
                    Assert.Equal(0.7, (sample[i] - (0.05 * noise.Data[i])) / signal, 4);
                }
            }
        }
    }

    private string Write(DemoModelFlavor flavor, DemoModelOptions options)
    {
        var path = _root.Combine($"{flavor}-{Guid.NewGuid():N}");
        DemoModelWriter.Write(path, options);
        return path;
    }
}
