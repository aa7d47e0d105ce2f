using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Engine.Tests.Pipeline;

/// <summary>AUTOMATIC1111's "Original" emphasis, worked by hand on a 3-token chunk of width 2.</summary>
public sealed class EmphasisTests
{
    [Fact]
    public void Each_token_is_multiplied_by_its_weight_and_the_chunk_keeps_its_mean()
    {
        float[] states = [1, 2, 3, 4, 5, 6];

        // Mean 21/6 = 3.5; weighted [1, 2, 6, 8, 5, 6] has mean 28/6, so everything is then multiplied by 3.5 / (28/6) = 0.75.
        Emphasis.ApplyOriginal(states, [1.0, 2.0, 1.0], hidden: 2);

        Assert.Equal([0.75f, 1.5f, 4.5f, 6f, 3.75f, 4.5f], states);
    }

    [Fact]
    public void Weights_of_one_change_nothing()
    {
        float[] states = [0.3f, -1.7f, 2.25f, 9f];

        Emphasis.ApplyOriginal(states, [1.0, 1.0], hidden: 2);

        Assert.Equal([0.3f, -1.7f, 2.25f, 9f], states);
    }

    [Fact]
    public void A_chunk_whose_weighted_mean_is_zero_is_left_unscaled_rather_than_made_infinite()
    {
        float[] states = [1, -1, 1, -1];

        Emphasis.ApplyOriginal(states, [2.0, 1.0], hidden: 2);

        Assert.Equal([2f, -2f, 1f, -1f], states);
    }
}
