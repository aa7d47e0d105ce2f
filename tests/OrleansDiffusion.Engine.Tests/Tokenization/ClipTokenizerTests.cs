using System.Text.Json;
using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Tests.Tokenization;

public sealed class ClipTokenizerFixture : IDisposable
{
    private readonly TempDirectory _directory = new();

    public ClipTokenizerFixture()
    {
        ClipVocabularyFiles.WriteTo(_directory.Path);
        Tokenizer = ClipTokenizer.Load(_directory.Path);
    }

    public ClipTokenizer Tokenizer { get; }

    public void Dispose() => _directory.Dispose();
}

public sealed class ClipTokenizerTests(ClipTokenizerFixture fixture) : IClassFixture<ClipTokenizerFixture>
{
    public static TheoryData<string, int[], int[]> ReferenceCases()
    {
        var data = new TheoryData<string, int[], int[]>();
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Data", "tokenizer-cases.jsonl")))
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            data.Add(
                root.GetProperty("prompt").GetString()!,
                root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                root.GetProperty("ids77").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void Matches_the_reference_CLIP_tokenizer(string prompt, int[] ids, int[] ids77)
    {
        Assert.Equal(ids, fixture.Tokenizer.EncodeContent(prompt));
        var tokenized = fixture.Tokenizer.Tokenize(prompt);
        Assert.Equal(ids77, tokenized.Ids);
        Assert.Equal(ids.Length > ClipTokenizer.MaxContentTokens, tokenized.Truncated);
        Assert.Equal(ids.Length, tokenized.ContentTokenCount);
    }

    [Fact]
    public void Reference_cases_include_a_truncated_prompt()
    {
        Assert.Contains(ReferenceCases(), row => row.Data.Item2.Length > ClipTokenizer.MaxContentTokens);
    }

    [Fact]
    public void Long_prompts_keep_75_content_tokens_and_end_with_the_end_token()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("cat", 100));
        var tokenized = fixture.Tokenizer.Tokenize(prompt);

        Assert.Equal(ClipTokenizer.SequenceLength, tokenized.Ids.Length);
        Assert.True(tokenized.Truncated);
        Assert.Equal(100, tokenized.ContentTokenCount);
        Assert.Equal(75, tokenized.Tokens.Count);
        Assert.Equal(49406, tokenized.Ids[0]);
        Assert.Equal(49407, tokenized.Ids[76]);
        Assert.All(tokenized.Ids[1..76], id => Assert.Equal(2368, id));
    }

    [Fact]
    public void Empty_prompt_is_start_end_and_padding()
    {
        var tokenized = fixture.Tokenizer.Tokenize(string.Empty);

        Assert.Equal(49406, tokenized.Ids[0]);
        Assert.All(tokenized.Ids[1..], id => Assert.Equal(49407, id));
        Assert.False(tokenized.Truncated);
        Assert.Empty(tokenized.Tokens);
    }

    [Fact]
    public void Tokens_are_the_bpe_strings_of_the_kept_ids()
    {
        var tokenized = fixture.Tokenizer.Tokenize("a photo of a cat");

        Assert.Equal(["a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>"], tokenized.Tokens);
    }

    [Fact]
    public void Padding_token_comes_from_the_special_tokens_map()
    {
        using var directory = new TempDirectory();
        ClipVocabularyFiles.WriteTo(directory.Path);
        File.WriteAllText(directory.Combine("special_tokens_map.json"), """{"pad_token": {"content": "!", "lstrip": false}}""");

        var tokenized = ClipTokenizer.Load(directory.Path).Tokenize("a cat");

        Assert.Equal([49406, 320, 2368, 49407, 0, 0], tokenized.Ids[..6]);
    }

    [Fact]
    public void A_folder_without_merges_is_a_clear_error()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.Combine("vocab.json"), "{}");

        var error = Assert.Throws<InvalidDataException>(() => ClipTokenizer.Load(directory.Path));

        Assert.Contains("merges.txt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_vocabulary_that_is_not_json_is_a_clear_error()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(directory.Combine("vocab.json"), "not json");
        File.WriteAllText(directory.Combine("merges.txt"), "#version: 0.2\ni n\n");

        var error = Assert.Throws<InvalidDataException>(() => ClipTokenizer.Load(directory.Path));

        Assert.Contains("vocab.json", error.Message, StringComparison.Ordinal);
    }
}
