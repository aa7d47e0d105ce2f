using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>img2img on a real cluster: the worker takes the init image (and mask) the API normalised and stored, as it is.</summary>
public sealed class InitImageTests
{
    private static byte[] Png()
    {
        using var image = new Image<Rgb24>(48, 80, new Rgb24(200, 40, 90));
        using var buffer = new MemoryStream();
        image.SaveAsPng(buffer);
        return buffer.ToArray();
    }

    /// <summary>A mask of the init image's size whose right half (white) is repainted.</summary>
    private static byte[] HalfMaskPng()
    {
        using var image = new Image<L8>(48, 80);
        for (var y = 0; y < 80; y++)
        {
            for (var x = 24; x < 48; x++)
            {
                image[x, y] = new L8(255);
            }
        }

        using var buffer = new MemoryStream();
        image.SaveAsPng(buffer);
        return buffer.ToArray();
    }

    private static GenerationSpec Img2img(string key) =>
        ClusterHarness.SmallSpec("a red field", seed: 5, steps: 4) with { InitImageKey = key, Strength = 0.5f, Scheduler = "ddim" };

    [Fact]
    public async Task The_worker_waits_for_an_init_image_stored_after_its_job_was_accepted_then_uses_it()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            // What the API does: normalise, name the image by its content, submit, and store only once accepted.
            var input = InitImageLoader.Normalize(Png(), 64, 64);
            var (id, _) = await harness.SubmitAsync(Img2img(ImageKeys.ForInput(input)));

            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            Assert.False((await harness.Job(id).GetSnapshot()).IsTerminal, "the job waits for its image");

            await harness.Service<IImageStore>(harness.ActiveSilos.Single()).SaveInputAsync(input, TestContext.Current.CancellationToken);
            var finished = await harness.WaitAsync(id);

            Assert.Equal(JobStatus.Succeeded, finished.Status);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task The_worker_waits_for_a_mask_stored_after_its_job_was_accepted_then_uses_it()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            var store = harness.Service<IImageStore>(harness.ActiveSilos.Single());
            var input = InitImageLoader.Normalize(Png(), 64, 64);
            var mask = MaskLoader.Normalize(HalfMaskPng(), imageSize: null, 64, 64, new MaskOptions());
            await store.SaveInputAsync(input, TestContext.Current.CancellationToken);
            var (id, _) = await harness.SubmitAsync(Img2img(ImageKeys.ForInput(input)) with { MaskKey = ImageKeys.ForInput(mask) });

            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            Assert.False((await harness.Job(id).GetSnapshot()).IsTerminal, "the job waits for its mask");

            await store.SaveInputAsync(mask, TestContext.Current.CancellationToken);
            var finished = await harness.WaitAsync(id);

            Assert.Equal(JobStatus.Succeeded, finished.Status);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task The_worker_never_decodes_an_uploaded_file_itself()
    {
        await using var harness = await ClusterHarness.StartAsync(1);
        try
        {
            // A user's PNG under an input key, as the API stored it before uploads were normalised: not for a worker.
            var key = await harness.Service<IImageStore>(harness.ActiveSilos.Single()).SaveInputAsync(Png(), TestContext.Current.CancellationToken);
            var (id, _) = await harness.SubmitAsync(Img2img(key));

            var finished = await harness.WaitAsync(id);

            Assert.Equal(JobStatus.Failed, finished.Status);
            Assert.Contains("not a normalised 64x64 image", finished.Error, StringComparison.Ordinal);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
