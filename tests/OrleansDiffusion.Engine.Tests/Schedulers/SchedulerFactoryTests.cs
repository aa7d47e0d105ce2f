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
    public void Config_use_karras_sigmas_applies_only_where_supported()
    {
        var config = SchedulerConfig.StableDiffusion15 with { UseKarrasSigmas = true };

        Assert.True(SchedulerFactory.Create(SchedulerKind.Euler, config).KarrasSigmas);
        Assert.True(SchedulerFactory.Create(SchedulerKind.DpmPlusPlus2M, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.Ddim, config).KarrasSigmas);
        Assert.False(SchedulerFactory.Create(SchedulerKind.Lcm, config).KarrasSigmas);
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
