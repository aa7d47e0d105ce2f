using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Storage;

public sealed class LocalDiskImageStoreTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly LocalDiskImageStore _store;

    public LocalDiskImageStoreTests() =>
        _store = new LocalDiskImageStore(Options.Create(new ImageStoreOptions { LocalRoot = _root.Path }));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task Saved_image_reads_back_byte_for_byte_with_its_metadata()
    {
        var png = TestImages.UniquePng();

        var image = await _store.SaveImageAsync(png, seed: 42, width: 512, height: 384, Ct);

        Assert.Equal((42L, 512, 384, png.LongLength), (image.Seed, image.Width, image.Height, image.Bytes));
        Assert.Equal(png, await _store.ReadAsync(image.Key, Ct));
        Assert.True(await _store.ExistsAsync(image.Key, Ct));
    }

    [Fact]
    public async Task Saved_input_reads_back_byte_for_byte()
    {
        var bytes = TestImages.UniquePng();

        var key = await _store.SaveInputAsync(bytes, Ct);

        Assert.Equal(bytes, await _store.ReadAsync(key, Ct));
    }

    [Fact]
    public async Task Keys_are_the_sha256_of_the_content()
    {
        var bytes = TestImages.UniquePng();
        var hash = TestImages.Sha256Hex(bytes);

        var image = await _store.SaveImageAsync(bytes, 1, 64, 64, Ct);
        var input = await _store.SaveInputAsync(bytes, Ct);

        Assert.Equal($"images/{hash}.png", image.Key);
        Assert.Equal($"inputs/{hash}", input);
        Assert.True(File.Exists(_root.Combine("images", hash + ".png")));
        Assert.True(File.Exists(_root.Combine("inputs", hash)));
    }

    [Fact]
    public async Task Same_bytes_give_the_same_key_and_are_stored_once_and_the_second_save_touches_them()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.Zero));
        var store = new LocalDiskImageStore(Options.Create(new ImageStoreOptions { LocalRoot = _root.Path }), clock);
        var png = TestImages.UniquePng();

        var first = await store.SaveImageAsync(png, 1, 64, 64, Ct);
        Assert.Equal(clock.GetUtcNow().UtcDateTime, File.GetLastWriteTimeUtc(_root.Combine(first.Key)));
        clock.Advance(TimeSpan.FromHours(3));
        var second = await store.SaveImageAsync(png, 2, 64, 64, Ct);

        Assert.Equal(first.Key, second.Key);
        Assert.Single(Directory.GetFiles(_root.Combine("images")));
        Assert.Equal(png, await File.ReadAllBytesAsync(_root.Combine(first.Key), Ct));

        // Saving stored content again is a use: the retention sweep counts the period from it.
        Assert.Equal(clock.GetUtcNow().UtcDateTime, File.GetLastWriteTimeUtc(_root.Combine(first.Key)));
    }

    [Fact]
    public async Task Concurrent_saves_of_the_same_bytes_all_succeed_and_leave_one_file()
    {
        var png = TestImages.UniquePng(256 * 1024);

        var images = await Task.WhenAll(
            Enumerable.Range(0, 8).Select(i => Task.Run(() => _store.SaveImageAsync(png, i, 64, 64, Ct), Ct)));

        Assert.Single(images.Select(i => i.Key).Distinct());
        Assert.Equal(_root.Combine(images[0].Key), Assert.Single(Directory.GetFiles(_root.Combine("images"))));
        Assert.Equal(png, await _store.ReadAsync(images[0].Key, Ct));
    }

    [Fact]
    public async Task Different_bytes_give_different_keys()
    {
        var first = await _store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        var second = await _store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        Assert.NotEqual(first.Key, second.Key);
    }

    [Fact]
    public async Task Missing_key_reads_as_null_and_does_not_exist()
    {
        var key = $"images/{TestImages.Sha256Hex(TestImages.UniquePng())}.png";

        Assert.Null(await _store.ReadAsync(key, Ct));
        Assert.False(await _store.ExistsAsync(key, Ct));
        Assert.Null(await _store.ReadAsync("inputs/" + new string('0', 64), Ct));
    }

    [Theory]
    [MemberData(nameof(TestImages.InvalidKeys), MemberType = typeof(TestImages))]
    public async Task Keys_of_any_other_shape_are_rejected(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.ReadAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.ExistsAsync(key, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.GetReadUrlAsync(key, TimeSpan.FromMinutes(1), Ct));
    }

    [Fact]
    public async Task Path_traversal_does_not_reach_a_file_outside_the_root()
    {
        var outside = Path.Combine(Path.GetDirectoryName(_root.Path)!, "od-secret-" + Guid.NewGuid().ToString("N") + ".png");
        await File.WriteAllTextAsync(outside, "secret", Ct);
        try
        {
            var key = "images/../../" + Path.GetFileName(outside);
            await Assert.ThrowsAsync<ArgumentException>(() => _store.ReadAsync(key, Ct));
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public async Task Local_disk_issues_no_read_url()
    {
        var image = await _store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);

        Assert.Null(await _store.GetReadUrlAsync(image.Key, TimeSpan.FromMinutes(5), Ct));
    }

    [Fact]
    public async Task Saving_leaves_no_temporary_files()
    {
        await _store.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        await _store.SaveInputAsync(TestImages.UniquePng(), Ct);

        Assert.Empty(Directory.GetFiles(_root.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Empty_content_is_rejected()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.SaveImageAsync(Array.Empty<byte>(), 1, 64, 64, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _store.SaveInputAsync([], Ct));
    }

    [Fact]
    public void A_relative_root_is_resolved_against_the_current_directory()
    {
        var store = new LocalDiskImageStore(Options.Create(new ImageStoreOptions()));

        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "data", "images"), store.Root);
    }
}
