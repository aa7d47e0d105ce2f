using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Tests.Schedulers;

public sealed class SchedulerFactoryTests
{
    [Fact]
    public void Names_list_every_scheduler_and_the_karras_variants()
    {
        Assert.Equal(
            ["euler", "euler_karras", "euler_a", "euler_a_karras", "ddim", "pndm", "lms", "lms_karras", "dpmpp_2m", "dpmpp_2m_karras", "lcm"],
            SchedulerFactory.Names);
    }

    [Fact]
    public void Every_name_round_trips_through_try_parse_and_name()
    {
        foreach (var name in SchedulerFactory.Names)
        {
            Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras), name);
            Assert.Equal(name, SchedulerFactory.Name(kind, karras));
            var scheduler = SchedulerFactory.Create(kind, SchedulerConfig.StableDiffusion15, karras);
            Assert.Equal(kind, scheduler.Kind);
            Assert.Equal(karras, scheduler.KarrasSigmas);
        }
    }

    [Theory]
    [InlineData("PLMS", SchedulerKind.Pndm, false)]
    [InlineData("Euler-A-Karras", SchedulerKind.EulerAncestral, true)]
    [InlineData(" dpmpp-2m ", SchedulerKind.DpmPlusPlus2M, false)]
    [InlineData("LMS_KARRAS", SchedulerKind.Lms, true)]
    public void Try_parse_accepts_aliases_case_and_dashes(string name, SchedulerKind expectedKind, bool expectedKarras)
    {
        Assert.True(SchedulerFactory.TryParse(name, out var kind, out var karras));
        Assert.Equal(expectedKind, kind);
        Assert.Equal(expectedKarras, karras);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("euler ancestral")]
    [InlineData("heun")]
    [InlineData("ddim_karras")]
    [InlineData("lcm_karras")]
    [InlineData("plms_karras")]
    [InlineData("euler_karras_karras")]
    public void Try_parse_rejects_unknown_names(string? name)
    {
        Assert.False(SchedulerFactory.TryParse(name, out _, out _));
    }

    [Fact]
    public void Karras_on_ddim_throws_with_a_clear_message()
    {
        var error = Assert.Throws<ArgumentException>(
            () => SchedulerFactory.Create(SchedulerKind.Ddim, SchedulerConfig.StableDiffusion15, karrasSigmas: true));
        Assert.Contains("Karras", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SchedulerFactory.Name(SchedulerKind.Ddim, karras: true));
    }

    [Fact]
    public void Config_use_karras_sigmas_applies_only_to_the_classes_that_read_it()
    {
        var config = SchedulerConfig.StableDiffusion15 with { UseKarrasSigmas = true };

        Assert.True(SchedulerFactory.Create(SchedulerKind.Euler, config).KarrasSigmas);
        Assert.True(SchedulerFactory.Create(SchedulerKind.Lms, config).KarrasSigmas);
        Assert.True(SchedulerFactory.Create(SchedulerKind.DpmPlusPlus2M, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.EulerAncestral, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.Ddim, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.Pndm, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.Lcm, config).KarrasSigmas);
        Assert.True(SchedulerFactory.ConfigKarras(SchedulerKind.Euler, config));
        Assert.False(SchedulerFactory.ConfigKarras(SchedulerKind.EulerAncestral, config));
        Assert.False(SchedulerFactory.ConfigKarras(SchedulerKind.Euler, SchedulerConfig.StableDiffusion15));
    }

    [Fact]
    public void Euler_ancestral_keeps_interpolated_sigmas_under_a_karras_config_unless_named_karras()
    {
        var karrasConfig = SchedulerConfig.StableDiffusion15 with { UseKarrasSigmas = true };
        var plain = new EulerAncestralScheduler(SchedulerConfig.StableDiffusion15);
        var fromConfig = (EulerAncestralScheduler)SchedulerFactory.Create(SchedulerKind.EulerAncestral, karrasConfig);
        var named = (EulerAncestralScheduler)SchedulerFactory.Create(SchedulerKind.EulerAncestral, karrasConfig, karrasSigmas: true);
        plain.SetTimesteps(12, 4);
        fromConfig.SetTimesteps(12, 4);
        named.SetTimesteps(12, 4);

        Assert.Equal(plain.Sigmas.ToArray(), fromConfig.Sigmas.ToArray());
        Assert.NotEqual(plain.Sigmas.ToArray(), named.Sigmas.ToArray());
    }

    [Fact]
    public void Validate_refuses_step_counts_the_scheduler_cannot_run()
    {
        var lcm = Assert.ThrowsAny<ArgumentException>(() => SchedulerFactory.Validate(SchedulerKind.Lcm, SchedulerConfig.StableDiffusion15, false, 51));
        Assert.Contains("original_inference_steps", lcm.Message, StringComparison.Ordinal);
        SchedulerFactory.Validate(SchedulerKind.Lcm, SchedulerConfig.StableDiffusion15, false, 50);
        Assert.ThrowsAny<ArgumentException>(() => SchedulerFactory.Validate(SchedulerKind.Euler, SchedulerConfig.StableDiffusion15, false, 1001));
        Assert.ThrowsAny<ArgumentException>(() => SchedulerFactory.Validate(SchedulerKind.Ddim, SchedulerConfig.StableDiffusion15, true, 20));
    }

    [Theory]
    [InlineData("PNDMScheduler", SchedulerKind.Pndm)]
    [InlineData("DDIMScheduler", SchedulerKind.Ddim)]
    [InlineData("EulerDiscreteScheduler", SchedulerKind.Euler)]
    [InlineData("EulerAncestralDiscreteScheduler", SchedulerKind.EulerAncestral)]
    [InlineData("LMSDiscreteScheduler", SchedulerKind.Lms)]
    [InlineData("DPMSolverMultistepScheduler", SchedulerKind.DpmPlusPlus2M)]
    [InlineData("LCMScheduler", SchedulerKind.Lcm)]
    [InlineData("UniPCMultistepScheduler", SchedulerKind.Euler)]
    [InlineData(null, SchedulerKind.Euler)]
    public void Default_for_maps_the_diffusers_class_name(string? className, SchedulerKind expected)
    {
        Assert.Equal(expected, SchedulerFactory.DefaultFor(new SchedulerConfig { ClassName = className }));
    }
}
