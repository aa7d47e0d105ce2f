using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tests.Pipeline;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Inpainting;

/// <summary>
/// Inpainting with a 9-channel inpainting UNet (latents, mask, masked-image latents) and masked img2img with a plain
/// UNet (the original latents kept outside the mask at every step), end to end on generated models.
/// </summary>
[Collection(DemoModelVariantCollection.Name)]
public sealed class InpaintingPipelineTests(DemoModelVariants models)
{
    private const int Side = 64;
    private static readonly Rgb24 Red = new(200, 30, 30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DiffusionModel Plain() => models.Get("plain", new DemoModelOptions());

    private DiffusionModel InpaintingModel() => models.Get("inpainting", DemoModelVariants.Inpainting);

    private static GenerationRequest Request(string prompt = "a red fox in the snow") => new()
    {
        Prompt = prompt,
        Steps = 6,
        GuidanceScale = 5f,
        Seed = 11,
        Width = Side,
        Height = Side,
        Scheduler = SchedulerKind.Ddim,
    };

    /// <summary>A solid image, <c>[3, 64, 64]</c> in [-1, 1].</summary>
    internal static float[] Solid(Rgb24 colour)
    {
        var plane = Side * Side;
        var image = new float[3 * plane];
        image.AsSpan(0, plane).Fill((colour.R / 127.5f) - 1f);
        image.AsSpan(plane, plane).Fill((colour.G / 127.5f) - 1f);
        image.AsSpan(2 * plane, plane).Fill((colour.B / 127.5f) - 1f);
        return image;
    }

    /// <summary>1 inside the square [x0, x1) x [y0, y1), 0 elsewhere.</summary>
    internal static float[] Square(int x0, int y0, int x1, int y1)
    {
        var mask = new float[Side * Side];
        for (var y = y0; y < y1; y++)
        {
            mask.AsSpan((y * Side) + x0, x1 - x0).Fill(1f);
        }

        return mask;
    }

    private static Rgb24 Mean(Rgb24[] pixels, float[] mask, bool inside)
    {
        double r = 0, g = 0, b = 0;
        var count = 0;
        for (var p = 0; p < pixels.Length; p++)
        {
            if ((mask[p] > 0) == inside)
            {
                r += pixels[p].R;
                g += pixels[p].G;
                b += pixels[p].B;
                count++;
            }
        }

        return new Rgb24((byte)(r / count), (byte)(g / count), (byte)(b / count));
    }

    [Fact]
    public void Txt2img_on_an_inpainting_unet_repaints_the_whole_image_over_grey()
    {
        var inpainting = new DiffusionPipeline(InpaintingModel()).Generate(Request(), cancellationToken: Ct);
        var plain = new DiffusionPipeline(Plain()).Generate(Request(), cancellationToken: Ct);

        // The demo inpainting UNet with nothing to keep is the plain one: the mask and the masked latents went where it reads them.
        Assert.True(PngPixels.MeanDifference(inpainting.Images[0].Png, plain.Images[0].Png) < 0.5);
    }

    [Fact]
    public void An_inpainting_unet_keeps_what_the_mask_leaves_and_paints_the_hole_from_the_rest()
    {
        var mask = Square(16, 16, 48, 48);
        var request = Request(string.Empty) with { InitImage = Solid(Red), Mask = mask, Strength = 1f, GuidanceScale = 1f };

        var result = new DiffusionPipeline(InpaintingModel()).Generate(request, cancellationToken: Ct);
        var unmasked = new DiffusionPipeline(InpaintingModel()).Generate(request with { Mask = null, InitImage = null }, cancellationToken: Ct);

        var pixels = PngPixels.Decode(result.Images[0].Png, out _, out _);
        Assert.All(pixels.Where((_, p) => mask[p] == 0), p => Assert.Equal(Red, p));
        var hole = Mean(pixels, mask, inside: true);
        var free = Mean(PngPixels.Decode(unmasked.Images[0].Png, out _, out _), mask, inside: true);
        Assert.True(hole.R - hole.G > 100 && hole.R - hole.B > 100, $"the hole takes the colour of what the mask keeps, not {hole}");
        Assert.True(Math.Abs(free.R - free.G) < 60, $"without the masked image it would be {free}");
    }

    [Fact]
    public void A_plain_unet_keeps_the_original_latents_noised_to_the_next_step_outside_the_mask()
    {
        var model = Plain();
        var pipeline = new DiffusionPipeline(model);
        using var runOptions = new RunOptions();
        var text = pipeline.EncodeText("a cat", runOptions);
        const int Steps = 6;
        using var loop = new DenoisingLoop(model, () => SchedulerFactory.Create(SchedulerKind.Euler, model.Folder.SchedulerConfig), Steps, 1, 8, 8, text.Sequence, text.Hidden, [1f], guided: false, seeds: [5], runOptions);
        loop.SetHiddenStates(0, text.Values, unconditional: false);
        var random = new Random(2);
        var original = Enumerable.Range(0, loop.LatentLength).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var noise = Enumerable.Range(0, loop.LatentLength).Select(_ => (float)(random.NextDouble() - 0.5) * 2).ToArray();
        var mask = Enumerable.Range(0, 64).Select(p => p % 8 < 3 ? 1f : 0f).ToArray();
        var scheduler = loop.SchedulerFor(0);
        scheduler.AddNoise(original, noise, 0, loop.Latents);
        loop.KeepOutsideMask(0, original, noise, mask);
        var expected = new float[loop.LatentLength];

        for (var index = 0; index < Steps; index++)
        {
            loop.Step(index);

            if (index + 1 < Steps)
            {
                scheduler.AddNoise(original, noise, index + 1, expected);
            }
            else
            {
                original.CopyTo(expected, 0);
            }

            for (var i = 0; i < loop.LatentLength; i++)
            {
                if (mask[i % 64] == 0)
                {
                    Assert.Equal(expected[i], loop.Latents[i]);
                }
            }

            Assert.Contains(Enumerable.Range(0, loop.LatentLength), i => mask[i % 64] == 1 && loop.Latents[i] != expected[i]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_masked_step_allocates_nothing_after_warm_up(bool inpaintingUNet)
    {
        var model = inpaintingUNet ? InpaintingModel() : Plain();
        using var runOptions = new RunOptions();
        var text = new DiffusionPipeline(model).EncodeText("a cat", runOptions);
        using var loop = new DenoisingLoop(model, () => SchedulerFactory.Create(SchedulerKind.DpmPlusPlus2M, model.Folder.SchedulerConfig), 20, 2, 8, 8, text.Sequence, text.Hidden, [7.5f, 7.5f], guided: true, seeds: [1, 2], runOptions);
        var mask = Enumerable.Range(0, 64).Select(p => p % 8 < 4 ? 1f : 0f).ToArray();
        for (var image = 0; image < 2; image++)
        {
            loop.SetHiddenStates(image, text.Values, unconditional: false);
            loop.SetHiddenStates(image, text.Values, unconditional: true);
            if (inpaintingUNet)
            {
                loop.SetInpaintingConditioning(image, mask, new float[loop.LatentLength]);
            }
            else
            {
                loop.KeepOutsideMask(image, new float[loop.LatentLength], Enumerable.Repeat(0.5f, loop.LatentLength).ToArray(), mask);
            }
        }

        loop.GeneratorFor(0).FillNormal(loop.Latents);
        loop.Step(0);
        loop.Step(1);

        // Three windows of five steps, as DenoisingLoopAllocationTests: a step that allocates does so in every window,
        // while the runtime's own one-off work on this thread (tiering up a method on a loaded machine) lands in one at most.
        var allocated = new List<long>();
        for (var window = 0; window < 3; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 2 + (window * 5); i < 7 + (window * 5); i++)
            {
                loop.Step(i);
            }

            allocated.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated.Min());
    }

    [Fact]
    public void Masked_img2img_with_a_plain_unet_returns_the_init_image_unchanged_outside_the_mask()
    {
        var pipeline = new DiffusionPipeline(Plain());
        var init = pipeline.Generate(Request("a yellow sun"), cancellationToken: Ct).Images[0].Png;
        var initChw = InitImageLoader.LoadChw(init, Side, Side);
        var mask = Square(0, 0, 32, Side);

        var result = pipeline.Generate(Request("a purple sea") with { InitImage = initChw, Mask = mask, Strength = 0.8f }, cancellationToken: Ct);

        var before = PngPixels.Decode(init, out _, out _);
        var after = PngPixels.Decode(result.Images[0].Png, out _, out _);
        Assert.All(Enumerable.Range(0, after.Length).Where(p => mask[p] == 0), p => Assert.Equal(before[p], after[p]));
        var changed = Enumerable.Range(0, after.Length).Where(p => mask[p] == 1).Average(p => Math.Abs(before[p].R - after[p].R) + Math.Abs(before[p].B - after[p].B));
        Assert.True(changed > 10, $"the masked half is repainted ({changed})");
        Assert.Contains("Denoising strength: 0.8", result.Images[0].Infotext, StringComparison.Ordinal);
    }

    [Fact]
    public void A_soft_mask_blends_the_repainted_pixels_into_the_kept_ones_up_to_its_middle()
    {
        var pipeline = new DiffusionPipeline(Plain());
        var mask = new float[Side * Side];
        for (var p = 0; p < mask.Length; p++)
        {
            mask[p] = Math.Clamp(((p % Side) - 24) / 16f, 0f, 1f); // a ramp from x = 24 to x = 40
        }

        var result = pipeline.Generate(Request("a blue whale") with { InitImage = Solid(Red), Mask = mask, Strength = 1f }, cancellationToken: Ct);

        var pixels = PngPixels.Decode(result.Images[0].Png, out _, out _);
        Assert.All(Enumerable.Range(0, pixels.Length).Where(p => p % Side <= 24), p => Assert.Equal(Red, pixels[p]));
        Assert.Contains(Enumerable.Range(0, pixels.Length).Where(p => p % Side is > 24 and < 32), p => pixels[p] != Red);
    }

    [Theory]
    [InlineData(InpaintFill.LatentNothing)]
    [InlineData(InpaintFill.LatentNoise)]
    [InlineData(InpaintFill.Fill)]
    public void Each_fill_starts_the_hole_from_something_else_than_the_original(InpaintFill fill)
    {
        var pipeline = new DiffusionPipeline(Plain());
        var mask = Square(16, 16, 48, 48);
        var init = Solid(Red);
        for (var p = 0; p < mask.Length; p++)
        {
            init[(2 * Side * Side) + p] = mask[p] > 0 ? 1f : init[(2 * Side * Side) + p]; // a magenta hole in red
        }

        var request = Request(string.Empty) with { InitImage = init, Mask = mask, Strength = 0.5f };

        var original = pipeline.Generate(request, cancellationToken: Ct).Images[0].Png;
        var filled = pipeline.Generate(request with { InpaintFill = fill }, cancellationToken: Ct).Images[0].Png;

        var a = PngPixels.Decode(original, out _, out _);
        var b = PngPixels.Decode(filled, out _, out _);
        var inside = Enumerable.Range(0, a.Length).Where(p => mask[p] > 0).Average(p => Math.Abs(a[p].R - b[p].R) + Math.Abs(a[p].G - b[p].G) + Math.Abs(a[p].B - b[p].B));
        Assert.True(inside > 3, $"{fill} changes the hole ({inside})");
        Assert.All(Enumerable.Range(0, a.Length).Where(p => mask[p] == 0), p => Assert.Equal(a[p], b[p]));
    }

    [Fact]
    public void The_fills_start_the_hole_from_the_colours_around_it_from_noise_or_from_nothing()
    {
        var mask = Square(16, 16, 48, 48);
        var init = Solid(Red);
        init.AsSpan(2 * Side * Side).Fill(1f); // magenta everywhere...
        for (var p = 0; p < mask.Length; p++)
        {
            init[(2 * Side * Side) + p] = mask[p] > 0 ? 1f : (Red.B / 127.5f) - 1f; // ...but where the mask keeps: red
        }

        var request = Request() with { InitImage = init, Mask = mask };
        var fill = InpaintPlan.Create(request with { InpaintFill = InpaintFill.Fill });
        var original = InpaintPlan.Create(request);
        Assert.True(fill.Image[(2 * Side * Side) + (32 * Side) + 32] < -0.5f, "fill: the hole's blue is gone, red flowed in");
        Assert.Equal(1f, original.Image[(2 * Side * Side) + (32 * Side) + 32]);

        var latents = Enumerable.Repeat(0.5f, 4 * 8 * 8).ToArray();
        var noise = Enumerable.Range(0, 4 * 8 * 8).Select(i => (float)i).ToArray();
        var nothing = (float[])latents.Clone();
        InpaintPlan.Create(request with { InpaintFill = InpaintFill.LatentNothing }).FillLatents(nothing, noise);
        var noisy = (float[])latents.Clone();
        InpaintPlan.Create(request with { InpaintFill = InpaintFill.LatentNoise }).FillLatents(noisy, noise);
        var kept = (float[])latents.Clone();
        original.FillLatents(kept, noise);

        for (var i = 0; i < latents.Length; i++)
        {
            var inHole = original.LatentMask[i % 64] == 1f;
            Assert.Equal(inHole ? 0f : 0.5f, nothing[i]);
            Assert.Equal(inHole ? noise[i] : 0.5f, noisy[i]);
            Assert.Equal(0.5f, kept[i]);
        }

        Assert.Equal(16, original.LatentMask.Count(m => m == 1f)); // the 32 x 32 hole is 4 x 4 latents
    }

    [Fact]
    public void Only_masked_renders_the_box_around_the_mask_at_full_size_and_lays_it_back()
    {
        var pipeline = new DiffusionPipeline(Plain());
        var mask = Square(40, 8, 56, 24);
        var request = Request("a blue whale") with { InitImage = Solid(Red), Mask = mask, Strength = 1f };

        var whole = pipeline.Generate(request, cancellationToken: Ct);
        var box = pipeline.Generate(request with { InpaintOnlyMasked = true, InpaintPadding = 4 }, cancellationToken: Ct);

        var pixels = PngPixels.Decode(box.Images[0].Png, out var width, out var height);
        Assert.Equal((Side, Side), (width, height));
        Assert.All(Enumerable.Range(0, pixels.Length).Where(p => mask[p] == 0), p => Assert.Equal(Red, pixels[p]));
        Assert.True(PngPixels.MeanDifference(whole.Images[0].Png, box.Images[0].Png) > 0.5, "the box is rendered at 64 x 64, not cut from the whole");
        Assert.True(Mean(pixels, mask, inside: true) != Red);
    }

    [Fact]
    public void A_mask_needs_an_init_image_of_the_same_size_and_something_to_repaint()
    {
        var pipeline = new DiffusionPipeline(Plain());

        Assert.Equal("Mask", Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { Mask = Square(0, 0, 8, 8) }, cancellationToken: Ct)).ParamName);
        Assert.Equal("Mask", Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { InitImage = Solid(Red), Mask = new float[10] }, cancellationToken: Ct)).ParamName);
        Assert.Equal("Mask", Assert.Throws<ArgumentException>(() => pipeline.Generate(Request() with { InitImage = Solid(Red), Mask = new float[Side * Side] }, cancellationToken: Ct)).ParamName);
    }
}
