using Onnx;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.DemoModel.FullSize;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Tests.Pipeline;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>
/// The full-size SD 1.5 and SDXL graphs: their structure and parameter counts against the published configs (laid out
/// without writing gigabytes of weights), what the engine makes of the folders, and a whole generation on a
/// width-reduced variant built by the same code, so that ONNX Runtime executes the real block structure.
/// </summary>
public sealed class FullSizeModelTests
{
    // The published parameter counts: diffusers' UNet2DConditionModel and AutoencoderKL, transformers' CLIPTextModel
    // (ViT-L/14) and CLIPTextModelWithProjection (OpenCLIP ViT-bigG/14) of runwayml/stable-diffusion-v1-5 and
    // stabilityai/stable-diffusion-xl-base-1.0.
    private const long ClipL = 123_060_480;
    private const long ClipBigG = 694_659_840;
    private const long Sd15UNet = 859_520_964;
    private const long SdxlUNet = 2_567_463_684;
    private const long Vae = 83_653_863;

    public static TheoryData<DemoModelArchitecture> Architectures() =>
        new(DemoModelArchitecture.StableDiffusion15, DemoModelArchitecture.StableDiffusionXL);

    [Theory]
    [MemberData(nameof(Architectures))]
    public void The_graphs_have_the_published_parameter_counts(DemoModelArchitecture architecture)
    {
        using var folder = new TemporaryDirectory();
        var written = FullSizeModelWriter.Write(folder.Path, Options(architecture), writeWeights: false);

        // Counted from the graphs as written: every external initializer is a parameter.
        var counts = written.ToDictionary(c => c.Name, c => ParameterCount(Graph(folder.Path, c.Name)));
        Assert.Equal(written.ToDictionary(c => c.Name, c => c.Parameters), counts);
        Assert.Equal(ClipL, counts["text_encoder"]);
        Assert.Equal(Vae, counts["vae_decoder"] + counts["vae_encoder"]);
        if (architecture == DemoModelArchitecture.StableDiffusionXL)
        {
            Assert.Equal(ClipBigG, counts["text_encoder_2"]);
            Assert.Equal(SdxlUNet, counts["unet"]);
        }
        else
        {
            Assert.False(counts.ContainsKey("text_encoder_2"));
            Assert.Equal(Sd15UNet, counts["unet"]);
        }
    }

    [Theory]
    [InlineData(DemoModelArchitecture.StableDiffusion15, DemoModelFlavor.Optimum, FullSizeModelWriter.OptimumExternalData, 4)]
    [InlineData(DemoModelArchitecture.StableDiffusion15, DemoModelFlavor.OptimumFp16, FullSizeModelWriter.OptimumExternalData, 2)]
    [InlineData(DemoModelArchitecture.StableDiffusion15, DemoModelFlavor.Diffusers, "weights.pb", 4)]
    [InlineData(DemoModelArchitecture.StableDiffusionXL, DemoModelFlavor.OliveFp16, "model.onnx.data", 2)]
    public void Every_weight_lies_in_the_external_data_file_at_its_own_offset(DemoModelArchitecture architecture, DemoModelFlavor flavor, string dataFile, int elementSize)
    {
        using var folder = new TemporaryDirectory();
        var written = FullSizeModelWriter.Write(folder.Path, Options(architecture) with { Flavor = flavor }, writeWeights: false);

        foreach (var component in written)
        {
            var model = Graph(folder.Path, component.Name);
            var dataLength = new FileInfo(Path.Combine(folder.Path, component.Name, dataFile)).Length;
            long end = 0;
            foreach (var tensor in model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            {
                var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value);
                var offset = long.Parse(entries["offset"], System.Globalization.CultureInfo.InvariantCulture);
                var length = long.Parse(entries["length"], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(dataFile, entries["location"]);
                Assert.Equal(tensor.Dims.Aggregate(1L, (p, d) => p * d) * elementSize, length);
                Assert.True(offset >= end, $"{component.Name}: {tensor.Name} at {offset} overlaps the tensor before it, which ends at {end}");
                end = offset + length;
            }

            Assert.Equal(dataLength, end);
            Assert.True(component.Bytes > dataLength, "the size counts the graph and its weights");
            Assert.Equal(FullSizeModelWriter.Notice(architecture), model.DocString);
        }
    }

    [Theory]
    [InlineData(DemoModelArchitecture.StableDiffusion15, ModelFamily.StableDiffusion1, 512, 12, null)]
    [InlineData(DemoModelArchitecture.StableDiffusionXL, ModelFamily.StableDiffusionXL, 1024, 12, 32)]
    public void The_engine_reads_the_folders_as_demo_models_of_their_family(DemoModelArchitecture architecture, ModelFamily family, int side, int layers, int? layers2)
    {
        using var folder = new TemporaryDirectory();
        FullSizeModelWriter.Write(folder.Path, Options(architecture), writeWeights: false);

        var model = ModelFolder.Open(folder.Path);

        Assert.Equal(family, model.Family);
        Assert.True(model.IsDemoModel);
        Assert.Equal((side, side), (model.SizeRules.DefaultWidth, model.SizeRules.DefaultHeight));
        Assert.Equal(layers, model.TextEncoderLayers);
        Assert.Equal(layers2, model.TextEncoder2Layers);
        Assert.True(model.HasVaeEncoder);
        Assert.Contains("NOT a picture generator", File.ReadAllText(Path.Combine(folder.Path, "README.md")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DemoModelArchitecture.StableDiffusion15, DemoModelFlavor.Optimum)]
    [InlineData(DemoModelArchitecture.StableDiffusion15, DemoModelFlavor.OptimumFp16)]
    [InlineData(DemoModelArchitecture.StableDiffusionXL, DemoModelFlavor.Optimum)]
    public void A_width_reduced_variant_generates_finite_pixels_through_the_real_blocks(DemoModelArchitecture architecture, DemoModelFlavor flavor)
    {
        using var folder = new TemporaryDirectory();
        FullSizeModelWriter.Write(folder.Path, Options(architecture) with { Flavor = flavor, WidthDivisor = 8 }, writeWeights: true);
        using var model = DiffusionModel.Load(folder.Path, new ExecutionOptions { IntraOpThreads = 1 });

        // The pipeline refuses non-finite pixels, and NaN or infinite latents decode to them: a picture is finite throughout.
        var image = new DiffusionPipeline(model).Generate(new GenerationRequest
        {
            Prompt = "a lighthouse at dusk",
            NegativePrompt = "blurry",
            Steps = 3,
            GuidanceScale = 7.5f,
            Seed = 7,
            Width = 64,
            Height = 64,
        }, cancellationToken: TestContext.Current.CancellationToken).Images[0];

        PngPixels.Decode(image.Png, out var width, out var height);
        Assert.Equal((64, 64), (width, height));
        Assert.True(PngPixels.LumaSpread(image.Png) > 1, "the generated weights give a varied picture, not a flat one");
    }

    [Fact]
    public void Writing_twice_gives_byte_identical_weights()
    {
        using var first = new TemporaryDirectory();
        using var second = new TemporaryDirectory();
        var options = Options(DemoModelArchitecture.StableDiffusion15) with { WidthDivisor = 8 };
        FullSizeModelWriter.Write(first.Path, options, writeWeights: true);
        FullSizeModelWriter.Write(second.Path, options, writeWeights: true);

        foreach (var component in new[] { "text_encoder", "unet", "vae_decoder", "vae_encoder" })
        {
            foreach (var file in new[] { "model.onnx", FullSizeModelWriter.OptimumExternalData })
            {
                Assert.True(File.ReadAllBytes(first.Combine(component, file)).AsSpan().SequenceEqual(File.ReadAllBytes(second.Combine(component, file))),
                    $"{component}/{file} differs between two writes");
            }
        }
    }

    [Fact]
    public void The_counter_based_fill_gives_the_same_values_whatever_the_chunks()
    {
        var whole = new float[1000];
        DeterministicRandom.FillUniform(3, "label", 0, whole, 0.5);
        var pieces = new float[1000];
        DeterministicRandom.FillUniform(3, "label", 0, pieces.AsSpan(0, 13), 0.5);
        DeterministicRandom.FillUniform(3, "label", 13, pieces.AsSpan(13, 500), 0.5);
        DeterministicRandom.FillUniform(3, "label", 513, pieces.AsSpan(513), 0.5);

        Assert.Equal(whole, pieces);
        var mean = whole.Average();
        var std = Math.Sqrt(whole.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.05, 0.05);
        Assert.InRange(std, 0.45, 0.55);
        Assert.All(whole, v => Assert.InRange(v, -0.5 * Math.Sqrt(3), 0.5 * Math.Sqrt(3)));
    }

    [Fact]
    public void Options_of_the_tiny_model_are_refused_for_a_full_size_architecture()
    {
        using var folder = new TemporaryDirectory();

        Assert.Throws<ArgumentException>(() => DemoModelWriter.Write(folder.Path, Options(DemoModelArchitecture.StableDiffusion15) with { Inpainting = true }));
        Assert.Throws<ArgumentException>(() => DemoModelWriter.Write(folder.Path, Options(DemoModelArchitecture.StableDiffusionXL) with { Flavor = DemoModelFlavor.Diffusers }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.Path));
    }

    private static DemoModelOptions Options(DemoModelArchitecture architecture) => new()
    {
        Architecture = architecture,
        Family = architecture == DemoModelArchitecture.StableDiffusionXL ? DemoModelFamily.StableDiffusionXL : DemoModelFamily.StableDiffusion,
    };

    private static ModelProto Graph(string root, string component)
    {
        using var stream = File.OpenRead(Path.Combine(root, component, "model.onnx"));
        return ModelProto.Parser.ParseFrom(stream);
    }

    private static long ParameterCount(ModelProto model) => model.Graph.Initializer
        .Where(t => t.DataLocation == TensorProto.Types.DataLocation.External)
        .Sum(t => t.Dims.Aggregate(1L, (p, d) => p * d));
}
