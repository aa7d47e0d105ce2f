using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Hires;

/// <summary>The hires size, crop and second-pass schedule, as AUTOMATIC1111 computes them.</summary>
public sealed class HiresPlanTests
{
    [Theory]
    [InlineData(512, 512, 2f, 128, 128, 0, 0, 1024, 1024)]
    [InlineData(512, 512, 1.3f, 83, 83, 0, 0, 664, 664)] // int(665.6) = 665 pixels: 83 latent pixels
    [InlineData(512, 768, 1.5f, 96, 144, 0, 0, 768, 1152)]
    public void A_scale_multiplies_each_side_and_keeps_whole_latent_pixels(int width, int height, float scale, int latentWidth, int latentHeight, int left, int top, int toWidth, int toHeight)
    {
        var plan = new HiresFix { Scale = scale }.Plan(width, height);

        Assert.Equal(new HiresPlan(latentWidth, latentHeight, left, top, toWidth, toHeight), plan);
    }

    [Fact]
    public void One_resize_side_sets_the_other_in_proportion()
    {
        Assert.Equal(new HiresPlan(128, 192, 0, 0, 1024, 1536), new HiresFix { ResizeWidth = 1024 }.Plan(512, 768));
        Assert.Equal(new HiresPlan(64, 96, 0, 0, 512, 768), new HiresFix { ResizeHeight = 768 }.Plan(512, 768));
    }

    [Fact]
    public void Both_resize_sides_cover_the_size_and_crop_the_excess_evenly()
    {
        // 512x768 to cover 1024x1024: 1024x1536, (1536 - 1024) / 8 = 64 latent rows too many, 32 off the top.
        Assert.Equal(new HiresPlan(128, 192, 0, 32, 1024, 1024), new HiresFix { ResizeWidth = 1024, ResizeHeight = 1024 }.Plan(512, 768));

        // 512x512 to cover 1000x600: 1000x1000 (125 latent pixels), 50 rows too many, 25 off the top.
        Assert.Equal(new HiresPlan(125, 125, 0, 25, 1000, 600), new HiresFix { ResizeWidth = 1000, ResizeHeight = 600 }.Plan(512, 512));

        // 768x512 to cover 1024x1024: 1536x1024, 64 columns too many; an odd excess leaves the extra one on the right.
        Assert.Equal(new HiresPlan(192, 128, 32, 0, 1024, 1024), new HiresFix { ResizeWidth = 1024, ResizeHeight = 1024 }.Plan(768, 512));
        Assert.Equal(new HiresPlan(24, 16, 2, 0, 152, 128), new HiresFix { ResizeWidth = 152, ResizeHeight = 128 }.Plan(96, 64));
    }

    [Theory]
    [InlineData(20, 0, 0.5f, 40, 20)] // 0 steps: the first pass's 20, on a schedule of 20 / 0.5
    [InlineData(20, 10, 0.3f, 33, 23)] // int(10 / 0.3) = 33
    [InlineData(20, 10, 1f, 10, 0)] // min(1, 0.999): int(10.01) = 10, the whole schedule
    public void The_second_pass_runs_its_steps_at_the_end_of_a_schedule_stretched_by_the_strength(int steps, int hiresSteps, float strength, int schedule, int begin)
    {
        var hires = new HiresFix { Steps = hiresSteps, Strength = strength };

        Assert.Equal((schedule, begin), hires.Schedule(steps));
        Assert.Equal(hiresSteps == 0 ? steps : hiresSteps, hires.StepsAfter(steps));
    }

    [Fact]
    public void Out_of_bounds_fields_name_the_hires_field()
    {
        var limits = GenerationLimits.Default;
        Assert.Equal("Hires.Scale", Assert.Throws<ArgumentException>(() => new HiresFix { Scale = 0.5f }.Validate(limits, 64, 64, 20)).ParamName);
        Assert.Equal("Hires.Scale", Assert.Throws<ArgumentException>(() => new HiresFix { Scale = 4f }.Validate(limits, 512, 512, 20)).ParamName); // 2048x2048 pixels
        Assert.Equal("Hires.Steps", Assert.Throws<ArgumentException>(() => new HiresFix { Steps = -1 }.Validate(limits, 64, 64, 20)).ParamName);
        Assert.Equal("Hires.Strength", Assert.Throws<ArgumentException>(() => new HiresFix { Strength = 0f }.Validate(limits, 64, 64, 20)).ParamName);
        Assert.Equal("Hires.Strength", Assert.Throws<ArgumentException>(() => new HiresFix { Steps = 150, Strength = 0.1f }.Validate(limits, 64, 64, 20)).ParamName); // a 1500-step schedule
        new HiresFix { Steps = 100, Strength = 0.1f }.Validate(limits, 64, 64, 20);
        Assert.Equal("Hires.ResizeWidth", Assert.Throws<ArgumentException>(() => new HiresFix { ResizeWidth = 8 }.Validate(limits, 64, 64, 20)).ParamName);
        Assert.Equal("Hires.Upscaler", Assert.Throws<ArgumentException>(() => new HiresFix { Upscaler = (LatentUpscaleMode)42 }.Validate(limits, 64, 64, 20)).ParamName);
        new HiresFix { ResizeWidth = 1024, ResizeHeight = 1024 }.Validate(limits, 512, 768, 20);
    }

    [Fact]
    public void Upscalers_are_known_by_AUTOMATIC1111s_exact_names_only()
    {
        Assert.True(LatentUpscalers.TryParse("Latent (nearest)", out var mode));
        Assert.Equal(LatentUpscaleMode.Nearest, mode);
        Assert.False(LatentUpscalers.TryParse("latent", out _));
        Assert.False(LatentUpscalers.TryParse("R-ESRGAN 4x+", out _));
        Assert.False(LatentUpscalers.TryParse("Latent (antialiased)", out _));
        Assert.Contains("Latent (bicubic)", LatentUpscalers.Unsupported("Lanczos"), StringComparison.Ordinal);
    }
}
