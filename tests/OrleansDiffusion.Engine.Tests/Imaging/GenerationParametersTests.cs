using System.Globalization;
using OrleansDiffusion.Engine.Imaging;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.Imaging;

public sealed class GenerationParametersTests
{
    private static GenerationParameters Txt2Img() => new()
    {
        Prompt = "a photo of a cat",
        Steps = 20,
        SamplerName = "Euler a",
        GuidanceScale = 7f,
        Seed = 42,
        Width = 512,
        Height = 512,
        ModelHash = "abcd1234",
        ModelName = "v1-5-pruned-emaonly",
    };

    [Fact]
    public void Txt2img_infotext_without_negative_prompt_matches_A1111()
    {
        Assert.Equal(
            "a photo of a cat\n"
            + "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: abcd1234, Model: v1-5-pruned-emaonly",
            Txt2Img().ToInfotext());
    }

    [Fact]
    public void Negative_prompt_and_schedule_type_are_written_in_A1111_order()
    {
        var parameters = Txt2Img() with
        {
            NegativePrompt = "blurry, lowres",
            SamplerName = "DPM++ 2M",
            ScheduleType = "Karras",
            GuidanceScale = 7.5f,
            Seed = 1234567890123,
            Width = 768,
            ModelHash = null,
            ModelName = null,
        };

        Assert.Equal(
            "a photo of a cat\n"
            + "Negative prompt: blurry, lowres\n"
            + "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 1234567890123, Size: 768x512",
            parameters.ToInfotext());
    }

    [Fact]
    public void Img2img_strength_is_written_as_denoising_strength_last()
    {
        var parameters = Txt2Img() with { Strength = 0.75f, NegativePrompt = "ugly" };

        Assert.Equal(
            "a photo of a cat\n"
            + "Negative prompt: ugly\n"
            + "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: abcd1234, Model: v1-5-pruned-emaonly, "
            + "Denoising strength: 0.75",
            parameters.ToInfotext());
    }

    [Fact]
    public void Clip_skip_above_one_is_written_after_denoising_strength_and_read_back()
    {
        var parameters = Txt2Img() with { Strength = 0.5f, ClipSkip = 2 };

        var infotext = parameters.ToInfotext();

        Assert.EndsWith(", Denoising strength: 0.5, Clip skip: 2", infotext, StringComparison.Ordinal);
        Assert.Equal(2, GenerationParameters.ParseInfotext(infotext)!.ClipSkip);
        Assert.DoesNotContain("Clip skip", (Txt2Img() with { ClipSkip = 1 }).ToInfotext(), StringComparison.Ordinal);
        Assert.Null(GenerationParameters.ParseInfotext(Txt2Img().ToInfotext())!.ClipSkip);
    }

    [Fact]
    public void Values_with_commas_colons_or_quotes_are_json_quoted()
    {
        var parameters = Txt2Img() with { ModelHash = null, ModelName = "my, \"best\": model\\v2" };

        Assert.EndsWith("Model: \"my, \\\"best\\\": model\\\\v2\"", parameters.ToInfotext(), StringComparison.Ordinal);
        Assert.Equal(parameters, GenerationParameters.ParseInfotext(parameters.ToInfotext()));
    }

    [Fact]
    public void Numbers_are_formatted_invariantly_whatever_the_current_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            var text = (Txt2Img() with { GuidanceScale = 7.5f, Strength = 0.3f }).ToInfotext();

            Assert.Contains("CFG scale: 7.5,", text, StringComparison.Ordinal);
            Assert.EndsWith("Denoising strength: 0.3", text, StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    private static readonly GenerationParameters[] RoundTripCases =
    [
        Txt2Img(),
        Txt2Img() with { NegativePrompt = "blurry, lowres", ScheduleType = "Karras", SamplerName = "DPM++ 2M", GuidanceScale = 7.5f },
        Txt2Img() with { Strength = 0.75f, Seed = -1, ModelHash = null },
        Txt2Img() with { Prompt = "line one\nline two: with colon", NegativePrompt = "neg one\nneg two", ModelName = null },
        Txt2Img() with { Prompt = "猫, masterpiece", Width = 640, Height = 384, Seed = long.MaxValue, GuidanceScale = 1.25f },
    ];

    [Fact]
    public void Infotext_round_trips()
    {
        foreach (var parameters in RoundTripCases)
        {
            Assert.Equal(parameters, GenerationParameters.ParseInfotext(parameters.ToInfotext()));
        }
    }

    [Fact]
    public void Parses_an_infotext_written_by_A1111()
    {
        const string infotext =
            "masterpiece, 1girl\nNegative prompt: worst quality\n"
            + "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3263478, Size: 512x768, "
            + "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, "
            + "Lora hashes: \"add_detail: 7c6bad76eb54\", Version: v1.10.1";

        var parsed = GenerationParameters.ParseInfotext(infotext);

        Assert.NotNull(parsed);
        Assert.Equal("masterpiece, 1girl", parsed.Prompt);
        Assert.Equal("worst quality", parsed.NegativePrompt);
        Assert.Equal(28, parsed.Steps);
        Assert.Equal("DPM++ 2M", parsed.SamplerName);
        Assert.Equal("Karras", parsed.ScheduleType);
        Assert.Equal(7f, parsed.GuidanceScale);
        Assert.Equal(3263478, parsed.Seed);
        Assert.Equal((512, 768), (parsed.Width, parsed.Height));
        Assert.Equal("6ce0161689", parsed.ModelHash);
        Assert.Equal("v1-5-pruned-emaonly", parsed.ModelName);
        Assert.Equal(0.45f, parsed.Strength);
    }

    [Fact]
    public void Legacy_sampler_names_with_a_schedule_suffix_are_split()
    {
        var parsed = GenerationParameters.ParseInfotext(
            "a cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512");

        Assert.NotNull(parsed);
        Assert.Equal("DPM++ 2M", parsed.SamplerName);
        Assert.Equal("Karras", parsed.ScheduleType);
    }

    [Theory]
    [InlineData("just a prompt")]
    [InlineData("a cat\nSteps: 20, Sampler: Euler a, Seed: 1")]
    [InlineData("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: big")]
    public void Text_without_a_complete_parameter_line_parses_to_null(string infotext)
    {
        Assert.Null(GenerationParameters.ParseInfotext(infotext));
    }
}
