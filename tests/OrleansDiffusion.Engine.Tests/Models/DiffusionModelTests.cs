using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.Models;

[Collection(DemoModelCollection.Name)]
public sealed class DiffusionModelTests(DemoModelFolders models)
{
    [Theory]
    [InlineData(DemoModelFlavor.Optimum, TensorElementType.Int64, TensorElementType.Float, 0, DiffusionModel.LatentParametersName)]
    [InlineData(DemoModelFlavor.OptimumLegacy, TensorElementType.Int64, TensorElementType.Int64, 1, DiffusionModel.LatentSampleName)]
    [InlineData(DemoModelFlavor.Diffusers, TensorElementType.Int32, TensorElementType.Float, 1, DiffusionModel.LatentSampleName)]
    [InlineData(DemoModelFlavor.OliveFp16, TensorElementType.Int32, TensorElementType.Float16, 1, DiffusionModel.LatentSampleName)]
    public void Signatures_are_read_from_the_graph_metadata(DemoModelFlavor flavor, TensorElementType ids, TensorElementType timestep, int timestepRank, string encoderOutput)
    {
        var model = models.Get(flavor);

        Assert.Equal(ids, model.InputIds.ElementType);
        Assert.Equal(timestep, model.UNetSig.Timestep.ElementType);
        Assert.Equal(timestepRank, model.UNetSig.Timestep.Rank);
        Assert.Equal(encoderOutput, model.EncoderOutput!.Name);
        Assert.Equal(flavor == DemoModelFlavor.OliveFp16, model.UNetSig.Sample.IsFloat16);
        Assert.Equal(4, model.UNetSig.LatentChannels);
        Assert.Equal(ExecutionProvider.Cpu, model.Provider);
        Assert.True(model.Folder.IsDemoModel);
    }

    [Fact]
    public void Cuda_falls_back_to_cpu_with_the_reason_when_it_cannot_load()
    {
        using var model = DiffusionModel.Load(models.WriteCopy(DemoModelFlavor.Optimum), new ExecutionOptions { Provider = ExecutionProvider.Cuda });

        if (model.Provider == ExecutionProvider.Cuda)
        {
            Assert.Null(model.ProviderFallbackReason); // a GPU host with the CUDA package
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(model.ProviderFallbackReason));
        }
    }

    [Fact]
    public void A_missing_folder_is_a_clear_error()
    {
        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open("/nonexistent/model"));
        Assert.Contains("model folder not found", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model_index.json", "model_index.json")]
    [InlineData("scheduler/scheduler_config.json", "scheduler_config.json")]
    [InlineData("tokenizer/merges.txt", "merges.txt")]
    [InlineData("unet/model.onnx", "unet")]
    [InlineData("vae_decoder/model.onnx", "vae_decoder")]
    public void A_missing_file_is_named(string file, string named)
    {
        var path = models.WriteCopy(DemoModelFlavor.Optimum);
        File.Delete(Path.Combine(path, file));

        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));

        Assert.EndsWith(file.Replace('/', Path.DirectorySeparatorChar), error.Path, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_json_is_named()
    {
        var path = models.WriteCopy(DemoModelFlavor.Optimum);
        File.WriteAllText(Path.Combine(path, "model_index.json"), "{ not json");

        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));

        Assert.Contains("model_index.json", error.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_graph_is_named()
    {
        var path = models.WriteCopy(DemoModelFlavor.Optimum);
        File.WriteAllBytes(Path.Combine(path, "unet", "model.onnx"), [1, 2, 3, 4, 5]);

        var error = Assert.Throws<InvalidModelException>(() => DiffusionModel.Load(path));

        // The folder reads the UNet's declared inputs before any session (its family depends on them).
        Assert.EndsWith(Path.Combine("unet", "model.onnx"), error.Path, StringComparison.Ordinal);
        Assert.Contains("not an ONNX model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_graph_with_the_wrong_signature_is_named()
    {
        var path = models.WriteCopy(DemoModelFlavor.Optimum);
        File.Copy(Path.Combine(path, "text_encoder", "model.onnx"), Path.Combine(path, "unet", "model.onnx"), overwrite: true);

        var error = Assert.Throws<InvalidModelException>(() => DiffusionModel.Load(path));

        Assert.EndsWith(Path.Combine("unet", "model.onnx"), error.Path, StringComparison.Ordinal);
        Assert.Contains("no input named 'sample'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_vae_scaling_factor_is_named()
    {
        var path = models.WriteCopy(DemoModelFlavor.Optimum);
        File.WriteAllText(Path.Combine(path, "vae_decoder", "config.json"), """{"scaling_factor": "big"}""");

        var error = Assert.Throws<InvalidModelException>(() => ModelFolder.Open(path));

        Assert.Contains("scaling_factor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_vae_encoder_loads_for_txt2img_and_refuses_img2img()
    {
        var path = models.WriteCopy(DemoModelFlavor.Diffusers);
        Directory.Delete(Path.Combine(path, "vae_encoder"), recursive: true);
        using var model = DiffusionModel.Load(path);
        var pipeline = new Engine.Pipeline.DiffusionPipeline(model);
        var request = new Engine.Pipeline.GenerationRequest { Prompt = "x", Steps = 2, Width = 64, Height = 64 };

        Assert.Single(pipeline.Generate(request, cancellationToken: TestContext.Current.CancellationToken).Images);
        var error = Assert.Throws<ArgumentException>(() => pipeline.Generate(request with { InitImage = new float[3 * 64 * 64] }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("vae_encoder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unloading_releases_the_sessions()
    {
        var model = DiffusionModel.Load(models.WriteCopy(DemoModelFlavor.Optimum));
        model.Dispose();

        Assert.Throws<ObjectDisposedException>(() => new Engine.Pipeline.DiffusionPipeline(model).Generate(new Engine.Pipeline.GenerationRequest { Prompt = "x", Width = 64, Height = 64 }, cancellationToken: TestContext.Current.CancellationToken));
    }
}
