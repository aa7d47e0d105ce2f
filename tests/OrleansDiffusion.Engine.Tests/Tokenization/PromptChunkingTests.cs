using OrleansDiffusion.DemoModel.Clip;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Tests.Tokenization;

/// <summary>
/// Chunks, ids and weights as AUTOMATIC1111's <c>tokenize_line</c> computes them (75 tokens a chunk, comma back-off of
/// 20, BREAK, start/end/padding, weight 1 outside the content), worked out by hand from its rules with CLIP's ids.
/// </summary>
public sealed class PromptChunkingTests(ClipTokenizerFixture fixture) : IClassFixture<ClipTokenizerFixture>
{
    private const int Start = 49406;
    private const int End = 49407;
    private const int Cat = 2368;
    private const int Comma = 267;
    private const int A = 320;
    private const int Photo = 1125;

    private static string Cats(int count) => string.Concat(Enumerable.Repeat("cat ", count));

    /// <summary>The 77 ids of a chunk holding <paramref name="content"/>, padded with the end token.</summary>
    private static int[] Ids(params int[] content) => [Start, .. content, .. Enumerable.Repeat(End, 76 - content.Length)];

    private static double[] Weights(params double[] content) => [1.0, .. content, .. Enumerable.Repeat(1.0, 76 - content.Length)];

    private static int[] Repeat(int id, int count) => [.. Enumerable.Repeat(id, count)];

    private static double[] Repeat(double weight, int count) => [.. Enumerable.Repeat(weight, count)];

    [Fact]
    public void A_short_prompt_is_one_chunk_with_the_weights_of_its_runs()
    {
        var chunked = fixture.Tokenizer.Chunk("a (cat:1.5) [photo]");

        var chunk = Assert.Single(chunked.Chunks);
        Assert.Equal(Ids(A, Cat, Photo), chunk.Ids);
        Assert.Equal(Weights(1.0, 1.5, 1 / 1.1), chunk.Weights);
        Assert.Equal(3, chunked.TokenCount);
        Assert.False(chunk.IsUnweighted);
    }

    [Fact]
    public void The_empty_prompt_is_one_chunk_of_start_end_and_padding()
    {
        var chunked = fixture.Tokenizer.Chunk(string.Empty);

        var chunk = Assert.Single(chunked.Chunks);
        Assert.Equal(Ids(), chunk.Ids);
        Assert.True(chunk.IsUnweighted);
        Assert.Equal(0, chunked.TokenCount);
    }

    [Fact]
    public void Seventy_five_tokens_fill_one_chunk_and_the_seventy_sixth_starts_another()
    {
        var full = fixture.Tokenizer.Chunk(Cats(75));
        var over = fixture.Tokenizer.Chunk(Cats(76));

        Assert.Equal(Ids(Repeat(Cat, 75)), Assert.Single(full.Chunks).Ids);
        Assert.Equal(75, full.TokenCount);
        Assert.Equal(2, over.Chunks.Count);
        Assert.Equal(Ids(Repeat(Cat, 75)), over.Chunks[0].Ids);
        Assert.Equal(Ids(Cat), over.Chunks[1].Ids);
        Assert.Equal(76, over.TokenCount);
    }

    [Fact]
    public void A_comma_within_the_last_twenty_tokens_ends_the_chunk_and_the_rest_keeps_its_weights()
    {
        // 60 cats, a comma (token 61), then 20 emphasised cats: when the 76th token arrives the last comma is 15 back.
        var chunked = fixture.Tokenizer.Chunk(Cats(60) + ", (" + Cats(20) + ")");

        Assert.Equal(2, chunked.Chunks.Count);
        Assert.Equal(Ids([.. Repeat(Cat, 60), Comma]), chunked.Chunks[0].Ids);
        Assert.Equal(Weights(Repeat(1.0, 61)), chunked.Chunks[0].Weights);
        Assert.Equal(Ids(Repeat(Cat, 20)), chunked.Chunks[1].Ids);
        Assert.Equal(Weights(Repeat(1.1, 20)), chunked.Chunks[1].Weights);
        Assert.Equal(75 + 20, chunked.TokenCount);
    }

    [Fact]
    public void A_comma_exactly_twenty_tokens_back_still_ends_the_chunk()
    {
        var chunked = fixture.Tokenizer.Chunk(Cats(55) + ", " + Cats(30));

        Assert.Equal(Ids([.. Repeat(Cat, 55), Comma]), chunked.Chunks[0].Ids);
        Assert.Equal(Ids(Repeat(Cat, 30)), chunked.Chunks[1].Ids);
    }

    [Fact]
    public void A_comma_twenty_one_tokens_back_does_not()
    {
        var chunked = fixture.Tokenizer.Chunk(Cats(54) + ", " + Cats(30));

        Assert.Equal(Ids([.. Repeat(Cat, 54), Comma, .. Repeat(Cat, 20)]), chunked.Chunks[0].Ids);
        Assert.Equal(Ids(Repeat(Cat, 10)), chunked.Chunks[1].Ids);
    }

    [Fact]
    public void A_comma_arriving_at_a_full_chunk_opens_the_next_one()
    {
        var chunked = fixture.Tokenizer.Chunk(Cats(75) + ", cat");

        Assert.Equal(Ids(Repeat(Cat, 75)), chunked.Chunks[0].Ids);
        Assert.Equal(Ids(Comma, Cat), chunked.Chunks[1].Ids);
    }

    [Fact]
    public void BREAK_ends_a_chunk_and_counts_it_as_full()
    {
        var chunked = fixture.Tokenizer.Chunk("a photo BREAK (cat)");

        Assert.Equal(2, chunked.Chunks.Count);
        Assert.Equal(Ids(A, Photo), chunked.Chunks[0].Ids);
        Assert.Equal(Ids(Cat), chunked.Chunks[1].Ids);
        Assert.Equal(Weights(1.1), chunked.Chunks[1].Weights);
        Assert.Equal(75 + 1, chunked.TokenCount);
    }

    [Theory]
    [InlineData("cat BREAK", 1, 75)]
    [InlineData("BREAK", 1, 75)]
    [InlineData("BREAK cat", 2, 76)]
    [InlineData("cat BREAK BREAK cat", 3, 151)]
    public void A_trailing_BREAK_adds_no_empty_chunk(string prompt, int chunks, int tokenCount)
    {
        var chunked = fixture.Tokenizer.Chunk(prompt);

        Assert.Equal(chunks, chunked.Chunks.Count);
        Assert.Equal(tokenCount, chunked.TokenCount);
    }

    [Fact]
    public void BREAK_inside_brackets_is_the_word_break_as_in_AUTOMATIC1111()
    {
        var chunked = fixture.Tokenizer.Chunk("(cat BREAK cat)");

        var chunk = Assert.Single(chunked.Chunks);
        Assert.Equal(fixture.Tokenizer.EncodeContent("cat break cat"), chunk.Ids[1..4]);
        Assert.Equal(new[] { 1.1, -1.1, 1.1 }, chunk.Weights[1..4]);
    }

    [Fact]
    public void Every_chunk_has_77_ids_and_77_weights()
    {
        var chunked = fixture.Tokenizer.Chunk(Cats(200) + "BREAK, (dog:1.2), " + Cats(40));

        Assert.All(chunked.Chunks, chunk =>
        {
            Assert.Equal(77, chunk.Ids.Length);
            Assert.Equal(77, chunk.Weights.Length);
            Assert.Equal(Start, chunk.Ids[0]);
            Assert.Equal(End, chunk.Ids[76]);
            Assert.Equal(1.0, chunk.Weights[0]);
            Assert.Equal(1.0, chunk.Weights[76]);
        });
    }

    [Fact]
    public void A_tokenizer_that_pads_with_another_token_pads_after_the_first_end_token()
    {
        // SD 2.x tokenizers pad with "!" (id 0); A1111 puts its padding after the first end token of a chunk.
        using var directory = new TempDirectory();
        ClipVocabularyFiles.WriteTo(directory.Path);
        File.WriteAllText(directory.Combine("special_tokens_map.json"), """{"pad_token": "!"}""");
        var tokenizer = ClipTokenizer.Load(directory.Path);

        var chunked = tokenizer.Chunk(Cats(76));

        Assert.Equal<int>([Start, .. Repeat(Cat, 75), End], chunked.Chunks[0].Ids);
        Assert.Equal<int>([Start, Cat, End, .. Repeat(0, 74)], chunked.Chunks[1].Ids);
    }

    [Fact]
    public void A_bad_weight_is_refused()
    {
        Assert.Throws<InvalidPromptException>(() => fixture.Tokenizer.Chunk("(cat:1.2.3)"));
    }
}
