using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Queue;

namespace OrleansDiffusion.Cluster.Tests.Queue;

public sealed class FairOrderTests
{
    private static QueueEntry Item(string id, string key) => new(id, key, "demo", null, 1, DateTimeOffset.UnixEpoch);

    [Fact]
    public void Keys_take_turns_in_the_order_of_their_oldest_item()
    {
        var pending = new[] { Item("a1", "a"), Item("a2", "a"), Item("a3", "a"), Item("b1", "b"), Item("c1", "c"), Item("b2", "b") };

        var order = FairOrder.Of(pending, lastServedKey: null).Select(i => i.Key);

        Assert.Equal(["a1", "b1", "c1", "a2", "b2", "a3"], order);
    }

    [Fact]
    public void The_round_robin_resumes_after_the_key_served_last()
    {
        var pending = new[] { Item("a2", "a"), Item("b1", "b"), Item("c1", "c") };

        Assert.Equal(["b1", "c1", "a2"], FairOrder.Of(pending, lastServedKey: "a").Select(i => i.Key));
        Assert.Equal(["a2", "b1", "c1"], FairOrder.Of(pending, lastServedKey: "gone").Select(i => i.Key));
    }

    [Fact]
    public void One_busy_key_cannot_starve_another()
    {
        var pending = Enumerable.Range(0, 100).Select(i => Item($"a{i}", "a")).Append(Item("b0", "b")).ToList();

        Assert.Equal(1, FairOrder.Of(pending, lastServedKey: null).FindIndex(i => i.Key == "b0"));
    }
}

public sealed class RequestKeyTests
{
    private static readonly GenerationSpec Spec = new()
    {
        Model = "demo", Prompt = "p", NegativePrompt = "n", Seed = 1, Steps = 20, GuidanceScale = 7.5f,
        Scheduler = "euler_a", Width = 512, Height = 512, ImageCount = 1,
    };

    [Fact]
    public void The_same_request_has_the_same_key()
    {
        Assert.Equal(RequestKey.Compute(Spec, "h"), RequestKey.Compute(Spec with { }, "h"));
        Assert.Matches("^[0-9a-f]{64}$", RequestKey.Compute(Spec, "h"));
    }

    public static TheoryData<GenerationSpec> Changes() =>
    [
        Spec with { Model = "other" },
        Spec with { Prompt = "q" },
        Spec with { NegativePrompt = "m" },
        Spec with { Seed = 2 },
        Spec with { Steps = 21 },
        Spec with { GuidanceScale = 7.25f },
        Spec with { Scheduler = "euler" },
        Spec with { Width = 576 },
        Spec with { Height = 576 },
        Spec with { ImageCount = 2 },
        Spec with { InitImageKey = "inputs/abc" },
        Spec with { ClipSkip = 2 },
        Spec with { Prompt = "(p:1.2)" },
    ];

    [Theory]
    [MemberData(nameof(Changes))]
    public void Every_field_of_the_canonical_request_changes_the_key(GenerationSpec changed)
    {
        Assert.NotEqual(RequestKey.Compute(Spec, "h"), RequestKey.Compute(changed, "h"));
    }

    [Fact]
    public void Prompts_that_differ_only_in_their_weights_are_different_requests()
    {
        var weighted = Spec with { Prompt = "a (cat:1.2), [dog]" };

        Assert.NotEqual(RequestKey.Compute(weighted, "h"), RequestKey.Compute(weighted with { Prompt = "a (cat:1.3), [dog]" }, "h"));
        Assert.NotEqual(RequestKey.Compute(weighted, "h"), RequestKey.Compute(weighted with { Prompt = "a (cat:1.2), [[dog]]" }, "h"));
        Assert.NotEqual(RequestKey.Compute(weighted, "h"), RequestKey.Compute(weighted with { Prompt = "a cat, dog" }, "h"));
        Assert.NotEqual(RequestKey.Compute(weighted, "h"), RequestKey.Compute(weighted with { NegativePrompt = "(n)" }, "h"));
    }

    [Fact]
    public void Keys_of_version_1_are_not_reused_since_prompts_are_read_differently()
    {
        // Version 1 hashed {"v":"1", ...} without CLIP skip; its results cut prompts at 75 tokens and read brackets as words.
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("v", "1");
            json.WriteString("model", Spec.Model);
            json.WriteString("modelHash", "h");
            json.WriteString("prompt", Spec.Prompt);
            json.WriteString("negativePrompt", Spec.NegativePrompt);
            json.WriteNumber("seed", Spec.Seed);
            json.WriteNumber("steps", Spec.Steps);
            json.WriteString("guidance", "7.5");
            json.WriteString("scheduler", Spec.Scheduler);
            json.WriteNumber("width", Spec.Width);
            json.WriteNumber("height", Spec.Height);
            json.WriteNumber("n", Spec.ImageCount);
            json.WriteEndObject();
        }

        var version1 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer.ToArray()));
        Assert.NotEqual(version1, RequestKey.Compute(Spec, "h"));
    }

    [Fact]
    public void The_model_files_and_the_img2img_strength_change_the_key()
    {
        Assert.NotEqual(RequestKey.Compute(Spec, "h"), RequestKey.Compute(Spec, "h2"));
        var img2img = Spec with { InitImageKey = "inputs/abc", Strength = 0.5f };
        Assert.NotEqual(RequestKey.Compute(img2img, "h"), RequestKey.Compute(img2img with { Strength = 0.6f }, "h"));
    }
}
