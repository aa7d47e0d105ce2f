using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Storage;

/// <summary>Storage outages, on an Azurite of each test's own: the shared one is never stopped.</summary>
public sealed class AzureBlobImageStoreOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Save_survives_a_storage_blip_of_a_few_seconds()
    {
        await using var azurite = await AzuriteServer.StartNewAsync(Ct);
        var store = CreateStore(azurite, new ImageStoreOptions()); // The default retry budget.
        var before = await store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        var png = TestImages.UniquePng();

        await azurite.StopAsync(Ct);
        var save = store.SaveImageAsync(png, 2, 64, 64, Ct);
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        Assert.False(save.IsCompleted, "the save should still be retrying while storage is down");
        await azurite.StartAsync(Ct);

        var image = await save.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(png, await store.ReadAsync(image.Key, Ct));
        Assert.NotNull(await store.ReadAsync(before.Key, Ct)); // Same data folder after the restart.
    }

    [Fact]
    public async Task Operations_fail_as_unavailable_when_storage_stays_down_past_the_retry_budget()
    {
        await using var azurite = await AzuriteServer.StartNewAsync(Ct);
        var store = CreateStore(azurite, new ImageStoreOptions
        {
            MaxRetries = 2,
            RetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryDelay = TimeSpan.FromMilliseconds(100),
            NetworkTimeout = TimeSpan.FromSeconds(2),
        });
        var saved = await store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        await azurite.StopAsync(Ct);
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAsync<ImageStoreUnavailableException>(() => store.SaveImageAsync(TestImages.UniquePng(), 2, 64, 64, Ct));
        await Assert.ThrowsAsync<ImageStoreUnavailableException>(() => store.SaveInputAsync(TestImages.UniquePng(), Ct));
        await Assert.ThrowsAsync<ImageStoreUnavailableException>(() => store.ReadAsync(saved.Key, Ct));
        await Assert.ThrowsAsync<ImageStoreUnavailableException>(() => store.ExistsAsync(saved.Key, Ct));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"giving up took {clock.Elapsed}");
    }

    [Fact]
    public async Task Stop_frees_the_ports_and_start_brings_back_the_same_endpoint_and_data()
    {
        await using var azurite = await AzuriteServer.StartNewAsync(Ct);
        var connectionString = azurite.ConnectionString;
        var firstPid = azurite.ProcessId;
        var store = CreateStore(azurite, new ImageStoreOptions());
        var image = await store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        await azurite.StopAsync(Ct);
        Assert.False(azurite.IsRunning);
        Assert.Null(azurite.ProcessId);
        await azurite.StartAsync(Ct);

        Assert.Equal(connectionString, azurite.ConnectionString);
        Assert.NotEqual(firstPid, azurite.ProcessId);
        Assert.True(await store.ExistsAsync(image.Key, Ct));
    }

    private static AzureBlobImageStore CreateStore(AzuriteServer azurite, ImageStoreOptions options)
    {
        options.Provider = ImageStoreProvider.AzureBlob;
        options.ConnectionString = azurite.ConnectionString;
        return new AzureBlobImageStore(Options.Create(options), TimeProvider.System, NullLogger<AzureBlobImageStore>.Instance);
    }
}
