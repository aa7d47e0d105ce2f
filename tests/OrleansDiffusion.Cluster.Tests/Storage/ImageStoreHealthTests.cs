using Microsoft.Extensions.Time.Testing;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Storage;

public sealed class ImageStoreHealthTests
{
    [Fact]
    public void A_failure_marks_the_store_down_until_a_success_or_until_its_time_has_passed()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2031, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var health = new ImageStoreHealth(clock);
        Assert.False(health.IsDown);
        health.ThrowIfDown();

        health.Failed("could not save 'images/x.png': connection refused");
        Assert.True(health.IsDown);
        var refused = Assert.Throws<ImageStoreUnavailableException>(health.ThrowIfDown);
        Assert.Contains("connection refused", refused.Message, StringComparison.Ordinal);

        health.Succeeded();
        Assert.False(health.IsDown);

        health.Failed("again");
        clock.Advance(ImageStoreHealth.DownFor - TimeSpan.FromSeconds(1));
        Assert.True(health.IsDown);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(health.IsDown);
        health.ThrowIfDown();
    }
}
