using System.Globalization;
using System.Net;
using System.Web;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Storage;

public sealed class AzureBlobImageStoreTests(AzuriteFixture azurite)
{
    private static readonly HttpClient Http = new();

    // One container per test: tests share the assembly's Azurite and run in parallel.
    private readonly string _container = "t" + Guid.NewGuid().ToString("N")[..20];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Saved_image_reads_back_byte_for_byte_with_its_metadata()
    {
        var store = CreateStore();
        var png = TestImages.UniquePng();

        var image = await store.SaveImageAsync(png, seed: 7, width: 640, height: 480, Ct);

        Assert.Equal((7L, 640, 480, png.LongLength), (image.Seed, image.Width, image.Height, image.Bytes));
        Assert.Equal(png, await store.ReadAsync(image.Key, Ct));
        Assert.True(await store.ExistsAsync(image.Key, Ct));
    }

    [Fact]
    public async Task Saved_input_reads_back_byte_for_byte()
    {
        var store = CreateStore();
        var bytes = TestImages.UniquePng();

        var key = await store.SaveInputAsync(bytes, Ct);

        Assert.Equal(bytes, await store.ReadAsync(key, Ct));
    }

    [Fact]
    public async Task Keys_are_the_sha256_of_the_content_and_name_the_blobs()
    {
        var store = CreateStore();
        var bytes = TestImages.UniquePng();
        var hash = TestImages.Sha256Hex(bytes);

        var image = await store.SaveImageAsync(bytes, 1, 64, 64, Ct);
        var input = await store.SaveInputAsync(bytes, Ct);

        Assert.Equal($"images/{hash}.png", image.Key);
        Assert.Equal($"inputs/{hash}", input);
        Assert.Equal([image.Key, input], (await BlobNamesAsync()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Images_are_stored_as_png_and_inputs_as_octet_stream()
    {
        var store = CreateStore();
        var bytes = TestImages.UniquePng();

        var image = await store.SaveImageAsync(bytes, 1, 64, 64, Ct);
        var input = await store.SaveInputAsync(bytes, Ct);

        Assert.Equal("image/png", (await Blob(image.Key).GetPropertiesAsync(cancellationToken: Ct)).Value.ContentType);
        Assert.Equal("application/octet-stream", (await Blob(input).GetPropertiesAsync(cancellationToken: Ct)).Value.ContentType);
    }

    [Fact]
    public async Task Same_bytes_give_the_same_key_and_are_stored_once()
    {
        var store = CreateStore();
        var png = TestImages.UniquePng();

        var first = await store.SaveImageAsync(png, 1, 64, 64, Ct);
        var created = (await Blob(first.Key).GetPropertiesAsync(cancellationToken: Ct)).Value.CreatedOn;
        var second = await store.SaveImageAsync(png, 2, 64, 64, Ct);

        Assert.Equal(first.Key, second.Key);
        Assert.Single(await BlobNamesAsync());
        Assert.Equal(created, (await Blob(first.Key).GetPropertiesAsync(cancellationToken: Ct)).Value.CreatedOn);
        Assert.Equal(png, await store.ReadAsync(first.Key, Ct));
    }

    [Fact]
    public async Task Saving_stored_bytes_again_touches_them_without_uploading_them_again()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.Zero));
        var store = CreateStore(timeProvider: clock);
        var bytes = TestImages.UniquePng();

        var key = await store.SaveInputAsync(bytes, Ct);
        Assert.Equal(clock.GetUtcNow(), await TouchedAsync(key));
        clock.Advance(TimeSpan.FromHours(3));
        await store.SaveInputAsync(bytes, Ct);

        // Saving stored content again is a use: the retention sweep counts the period from it.
        Assert.Equal(clock.GetUtcNow(), await TouchedAsync(key));
        var properties = (await Blob(key).GetPropertiesAsync(cancellationToken: Ct)).Value;
        Assert.Equal("application/octet-stream", properties.ContentType);
        Assert.Equal(bytes, await store.ReadAsync(key, Ct));
    }

    [Fact]
    public async Task Concurrent_saves_of_the_same_bytes_all_succeed_and_store_one_blob()
    {
        var store = CreateStore();
        var png = TestImages.UniquePng(256 * 1024);

        var images = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => store.SaveImageAsync(png, i, 64, 64, Ct)));

        Assert.Single(images.Select(i => i.Key).Distinct());
        Assert.Single(await BlobNamesAsync());
        Assert.Equal(png, await store.ReadAsync(images[0].Key, Ct));
    }

    [Fact]
    public async Task Missing_key_reads_as_null_and_does_not_exist_with_or_without_a_container()
    {
        var store = CreateStore();
        var missing = $"images/{TestImages.Sha256Hex(TestImages.UniquePng())}.png";

        Assert.Null(await store.ReadAsync(missing, Ct)); // The container does not exist yet.
        Assert.False(await store.ExistsAsync(missing, Ct));

        await store.SaveInputAsync(TestImages.UniquePng(), Ct);

        Assert.Null(await store.ReadAsync(missing, Ct));
        Assert.False(await store.ExistsAsync(missing, Ct));
    }

    [Theory]
    [MemberData(nameof(TestImages.InvalidKeys), MemberType = typeof(TestImages))]
    public async Task Keys_of_any_other_shape_are_rejected(string key)
    {
        var store = CreateStore();

        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ExistsAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetReadUrlAsync(key, TimeSpan.FromMinutes(1), Ct));
    }

    [Fact]
    public async Task Read_url_serves_the_image_to_a_plain_http_client()
    {
        var store = CreateStore();
        var png = TestImages.UniquePng();
        var image = await store.SaveImageAsync(png, 1, 64, 64, Ct);

        var url = await store.GetReadUrlAsync(image.Key, TimeSpan.FromMinutes(5), Ct);

        Assert.NotNull(url);
        using var response = await Http.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(png, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Read_url_expires_after_the_lifetime_asked_for()
    {
        var now = new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.Zero);
        var store = CreateStore(timeProvider: new FakeTimeProvider(now));
        var image = await store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        var url = await store.GetReadUrlAsync(image.Key, TimeSpan.FromMinutes(15), Ct);

        Assert.NotNull(url);
        var query = HttpUtility.ParseQueryString(url.Query);
        Assert.Equal("r", query["sp"]);
        var expiry = DateTimeOffset.Parse(query["se"]!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.Equal(now.AddMinutes(15), expiry);
    }

    [Fact]
    public async Task Expired_read_url_is_refused()
    {
        // The store's clock runs two hours behind: a 1-minute URL has expired when it is used.
        var past = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-2));
        var store = CreateStore(timeProvider: past);
        var image = await store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        var url = await store.GetReadUrlAsync(image.Key, TimeSpan.FromMinutes(1), Ct);

        using var response = await Http.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Read_url_lifetime_must_be_positive()
    {
        var store = CreateStore();
        var key = $"images/{new string('a', 64)}.png";

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GetReadUrlAsync(key, TimeSpan.Zero, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GetReadUrlAsync(key, TimeSpan.FromMinutes(-1), Ct));
    }

    private AzureBlobImageStore CreateStore(TimeProvider? timeProvider = null) => new(
        Options.Create(new ImageStoreOptions
        {
            Provider = ImageStoreProvider.AzureBlob,
            ConnectionString = azurite.ConnectionString,
            Container = _container,
        }),
        timeProvider ?? TimeProvider.System,
        NullLogger<AzureBlobImageStore>.Instance);

    private async Task<DateTimeOffset> TouchedAsync(string key) =>
        DateTimeOffset.Parse((await Blob(key).GetPropertiesAsync(cancellationToken: Ct)).Value.Metadata["touched"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private BlobClient Blob(string key) => new BlobContainerClient(azurite.ConnectionString, _container).GetBlobClient(key);

    private async Task<List<string>> BlobNamesAsync()
    {
        var names = new List<string>();
        await foreach (var blob in new BlobContainerClient(azurite.ConnectionString, _container).GetBlobsAsync(cancellationToken: Ct))
        {
            names.Add(blob.Name);
        }

        return names;
    }
}
