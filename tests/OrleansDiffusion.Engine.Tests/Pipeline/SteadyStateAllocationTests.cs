using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

/// <summary>
/// What a whole image allocates once the pools are warm: the pipeline's buffers (text embeddings, UNet, VAE, pixels,
/// PNG) are rented and returned, so what remains is per-image bookkeeping, and for <see cref="DiffusionPipeline.Generate"/>
/// the returned PNG array. Allocation counts are deterministic on a given thread, unlike times, so the bounds hold on a
/// loaded machine.
/// </summary>
[Collection(DemoModelCollection.Name)]
public sealed class SteadyStateAllocationTests(DemoModelFolders models, ITestOutputHelper output)
{
    // Measured at 64x64 on the tiny model: about 562 KiB per image before the text embeddings were pooled ([77, 768]
    // floats each for the prompt and the negative prompt). The bound leaves room for runtime differences; a fresh VAE
    // output array alone is 3 MiB at 512x512.
    private const long MaxBytesPerImage = 256 * 1024;

    // A worker's path (decoded pixels, the PNG encoded into a pooled buffer and let go): measured at about 85 KiB per
    // image (64x64; the compare benchmark gives 0.08 MiB at 512x512), small objects of per-image bookkeeping. The text
    // embeddings and the PNG, which are pooled now, are what sat on the large-object heap and set off gen2 collections.
    private const long MaxWorkerBytesPerImage = 128 * 1024;

    private static readonly GenerationRequest Request = new() { Prompt = "a lighthouse at dusk", NegativePrompt = "blurry", Steps = 6, Width = 64, Height = 64, Seed = 1 };

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void A_warm_pipeline_allocates_little_per_image(DemoModelFlavor flavor)
    {
        var pipeline = new DiffusionPipeline(models.Get(flavor));
        var perImage = BytesPerImage(seed => pipeline.Generate(Request with { Seed = seed }, cancellationToken: TestContext.Current.CancellationToken));

        output.WriteLine($"{flavor}: {string.Join(", ", perImage.Select(b => $"{b / 1024.0:F1} KiB"))} per image");
        Assert.True(perImage.Min() <= MaxBytesPerImage, $"{perImage.Min()} bytes per image; at most {MaxBytesPerImage} expected");
    }

    [Theory]
    [InlineData(DemoModelFlavor.Optimum)]
    [InlineData(DemoModelFlavor.OliveFp16)]
    public void A_warm_worker_path_allocates_only_bookkeeping_per_image(DemoModelFlavor flavor)
    {
        var pipeline = new DiffusionPipeline(models.Get(flavor));
        void Image(long seed)
        {
            foreach (var decoded in pipeline.GenerateBatchDecoded([Request with { Seed = seed }], cancellationToken: TestContext.Current.CancellationToken))
            {
                foreach (var image in decoded.Images)
                {
                    using var png = image.EncodePooledPng();
                    Assert.True(png.Memory.Length > 0);
                }

                decoded.Dispose();
            }
        }

        var perImage = BytesPerImage(Image);

        output.WriteLine($"{flavor}: {string.Join(", ", perImage.Select(b => $"{b / 1024.0:F1} KiB"))} per image");
        Assert.True(perImage.Min() <= MaxWorkerBytesPerImage, $"{perImage.Min()} bytes per image; at most {MaxWorkerBytesPerImage} expected");
    }

    /// <summary>
    /// Bytes allocated per image on this thread in three windows of four images, after three warm-up images; the smallest
    /// window counts, since one-off runtime work (tiering a method up) lands in one window at most.
    /// </summary>
    private static List<long> BytesPerImage(Action<long> image)
    {
        for (var i = 0; i < 3; i++)
        {
            image(i);
        }

        const int Images = 4;
        var perImage = new List<long>();
        for (var window = 0; window < 3; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Images; i++)
            {
                image(100 + i);
            }

            perImage.Add((GC.GetAllocatedBytesForCurrentThread() - before) / Images);
        }

        return perImage;
    }
}
