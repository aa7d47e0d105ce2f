using OrleansDiffusion.Api.OpenAI;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Tests.OpenAI;

/// <summary>Which latent previews become OpenAI's partial images: N of them, spread over the run.</summary>
public sealed class PartialImageFeedTests
{
    private static readonly byte[] Preview = [1, 2, 3];

    /// <summary>Offers a run of <paramref name="steps"/> with a preview every <paramref name="interval"/> steps and at the last; returns the steps sent.</summary>
    private static async Task<List<(int Index, int Step)>> RunAsync(int count, int steps, int interval)
    {
        var feed = new PartialImageFeed(count);
        for (var step = 1; step <= steps; step++)
        {
            var preview = step % interval == 0 || step == steps ? Preview : null;
            feed.Offer(new InferenceEvent { Kind = InferenceEventKind.Progress, Step = step, TotalSteps = steps, Preview = preview is null ? null : [.. preview, (byte)step] });
        }

        feed.Complete();
        var sent = new List<(int, int)>();
        await foreach (var (index, preview) in feed.ReadAllAsync(TestContext.Current.CancellationToken))
        {
            sent.Add((index, preview[^1]));
        }

        return sent;
    }

    [Theory]
    [InlineData(3, 20, 1, new[] { 5, 10, 15 })]
    [InlineData(3, 20, 5, new[] { 5, 10, 15 })]
    [InlineData(2, 20, 5, new[] { 10, 15 })]
    [InlineData(1, 20, 5, new[] { 10 })]
    [InlineData(3, 8, 1, new[] { 2, 4, 6 })]
    [InlineData(0, 20, 1, new int[0])]
    [InlineData(3, 4, 5, new[] { 4 })]
    public async Task Partial_images_are_the_first_previews_past_each_equal_share_of_the_steps(int count, int steps, int interval, int[] expected)
    {
        var sent = await RunAsync(count, steps, interval);

        Assert.Equal(expected, sent.Select(s => s.Step));
        Assert.Equal(Enumerable.Range(0, expected.Length), sent.Select(s => s.Index));
    }

    [Fact]
    public async Task Events_without_a_preview_send_nothing()
    {
        var feed = new PartialImageFeed(3);

        feed.Offer(new InferenceEvent { Kind = InferenceEventKind.Queued });
        feed.Offer(new InferenceEvent { Kind = InferenceEventKind.Progress, Step = 10, TotalSteps = 10 });
        feed.Complete();

        Assert.Empty(await feed.ReadAllAsync(TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken));
    }
}
