using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Cluster.Tests.Storage;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Retention;

/// <summary>
/// The retention side of both image stores, on local disk and on Azurite: dated marks listed oldest first up to a
/// cutoff, and deletes that keep what was saved or used after the cutoff.
/// </summary>
public sealed class RetentionStoreTests(AzuriteFixture azurite) : IDisposable
{
    private static readonly DateTimeOffset Start = new(2031, 5, 6, 7, 8, 9, TimeSpan.Zero);

    private readonly TempDirectory _root = new();
    private readonly string _container = "t" + Guid.NewGuid().ToString("N")[..20];
    private readonly FakeTimeProvider _clock = new(Start);

    public static TheoryData<ImageStoreProvider> Stores => [ImageStoreProvider.LocalDisk, ImageStoreProvider.AzureBlob];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Marks_are_listed_oldest_first_up_to_the_cutoff_and_by_kind(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);
        var marks = new[]
        {
            new RetentionMark(RetentionKind.Jobs, "c", Start.AddHours(3)),
            new RetentionMark(RetentionKind.Jobs, "a", Start),
            new RetentionMark(RetentionKind.Jobs, "b", Start.AddMinutes(59).AddTicks(1)),
            new RetentionMark(RetentionKind.Results, "r", Start.AddMinutes(1)),
            new RetentionMark(RetentionKind.Jobs, "late", Start.AddDays(2)),
        };
        foreach (var mark in marks)
        {
            await store.MarkAsync(mark, Ct);
        }

        var due = await ListAsync(store, RetentionKind.Jobs, Start.AddHours(3));

        Assert.Equal([marks[1], marks[2], marks[0]], due);
        Assert.Equal([marks[3]], await ListAsync(store, RetentionKind.Results, Start.AddHours(3)));
        Assert.Empty(await ListAsync(store, RetentionKind.Inputs, Start.AddDays(3)));
        Assert.Empty(await ListAsync(store, RetentionKind.Jobs, Start.AddTicks(-1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_removed_mark_is_not_listed_again_and_removing_it_twice_is_harmless(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);
        var kept = new RetentionMark(RetentionKind.Inputs, "kept", Start);
        var removed = new RetentionMark(RetentionKind.Inputs, "removed", Start);
        await store.MarkAsync(kept, Ct);
        await store.MarkAsync(removed, Ct);
        await store.MarkAsync(removed, Ct);

        await store.RemoveMarkAsync(removed, Ct);
        await store.RemoveMarkAsync(removed, Ct);

        Assert.Equal([kept], await ListAsync(store, RetentionKind.Inputs, Start.AddDays(1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Removing_all_marks_of_an_hour_at_once_is_harmless(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);
        var marks = Enumerable.Range(0, 16).Select(i => new RetentionMark(RetentionKind.Jobs, $"m{i}", Start.AddSeconds(i))).ToList();
        foreach (var mark in marks)
        {
            await store.MarkAsync(mark, Ct);
        }

        // Two sweeps remove the same marks; the hour's folder goes with the last of them.
        await Task.WhenAll(marks.Concat(marks).Select(m => Task.Run(() => store.RemoveMarkAsync(m, Ct), Ct)));

        Assert.Empty(await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1)));
        await store.MarkAsync(marks[0], Ct);
        Assert.Equal([marks[0]], await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_group_of_marks_is_listed_once_its_latest_mark_is_due_and_removed_as_one(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);
        var early = new RetentionMark(RetentionKind.Results, "early", Start.AddMinutes(10));
        var group = RetentionMarkSet.Of(
        [
            new RetentionMark(RetentionKind.Results, "g1", Start),
            new RetentionMark(RetentionKind.Results, "g2", Start.AddMinutes(30)),
            new RetentionMark(RetentionKind.Results, "g3", Start.AddSeconds(1)),
        ]);
        await store.MarkAsync(group, Ct);
        await store.MarkAsync(early, Ct);

        // Its first mark is due, its latest is not: the group waits (a mark alone would not).
        Assert.Equal([early], await ListAsync(store, RetentionKind.Results, Start.AddMinutes(29)));

        var sets = await ListSetsAsync(store, RetentionKind.Results, Start.AddMinutes(30));
        Assert.Equal([early.Name, group.Name], sets.Select(s => s.Name));
        Assert.True(sets[1].IsGroup);
        Assert.Equal(group.Marks, sets[1].Marks);
        Assert.Equal(Start.AddMinutes(30), sets[1].At);

        await store.RemoveMarksAsync(sets[1], Ct);
        await store.RemoveMarksAsync(sets[1], Ct);
        Assert.Equal([early], await ListAsync(store, RetentionKind.Results, Start.AddDays(1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task The_marker_stores_marks_arriving_during_a_write_as_one_group(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);
        var counting = new CountingRetentionStore(store);
        var marker = new RetentionMarker(counting, TimeProvider.System, NullLogger<RetentionMarker>.Instance);
        var marks = Enumerable.Range(0, 200).Select(i => new RetentionMark(RetentionKind.Jobs, $"job{i:D3}", Start.AddMilliseconds(i))).ToList();

        // Marks arrive while the first write is held: the rest go out together once it ends.
        var hold = new TaskCompletionSource();
        counting.Hold = hold;
        marker.Mark(marks[0]);
        await counting.Started.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        marks.Skip(1).ToList().ForEach(marker.Mark);
        var flushed = marker.FlushAsync(Ct);
        Assert.False(flushed.IsCompleted);
        hold.SetResult();
        await flushed;

        Assert.Equal(2, counting.Writes);
        var listed = await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1));
        Assert.Equal(marks, listed.Order(Comparer<RetentionMark>.Create((a, b) => a.At.CompareTo(b.At))));

        // Idle again: a mark goes out at once, alone.
        marker.Mark(new RetentionMark(RetentionKind.Jobs, "alone", Start.AddDays(2)));
        await marker.FlushAsync(Ct);
        Assert.Equal(3, counting.Writes);
        Assert.Contains(await ListSetsAsync(store, RetentionKind.Jobs, Start.AddDays(3)), s => !s.IsGroup && s.Marks.Single().Id == "alone");
    }

    [Fact]
    public async Task The_marker_retries_a_failed_write_and_gives_a_group_up_only_after_every_retry()
    {
        var (store, _) = Create(ImageStoreProvider.LocalDisk);
        var clock = new FakeTimeProvider(Start);
        var counting = new CountingRetentionStore(store) { Failures = 1 };
        var marker = new RetentionMarker(counting, clock, NullLogger<RetentionMarker>.Instance);

        // One failure: retried after half a second, stored.
        var retried = new RetentionMark(RetentionKind.Jobs, "retried", Start);
        marker.Mark(retried);
        await AdvanceUntilAsync(clock, marker.FlushAsync(Ct));
        Assert.Equal([retried], await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1)));
        Assert.Equal(0, marker.Lost);

        // Failing for good: given up (and counted) after the last retry, and the marker still works after.
        counting.Failures = int.MaxValue;
        marker.Mark(new RetentionMark(RetentionKind.Jobs, "lost", Start.AddSeconds(1)));
        await AdvanceUntilAsync(clock, marker.FlushAsync(Ct));
        Assert.Equal(1, marker.Lost);
        Assert.Equal(1 + 7, counting.Failed); // the failure before, then the first try and six retries

        counting.Failures = 0;
        var later = new RetentionMark(RetentionKind.Jobs, "later", Start.AddSeconds(2));
        marker.Mark(later);
        await AdvanceUntilAsync(clock, marker.FlushAsync(Ct));
        Assert.Equal([retried, later], await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task The_same_mark_written_many_times_at_once_is_stored_once(ImageStoreProvider provider)
    {
        // A sweep renews a job's two marks to the same time in parallel: neither write may fail on the other.
        var (store, _) = Create(provider);
        var mark = new RetentionMark(RetentionKind.Jobs, "twice", Start);

        for (var round = 0; round < 300; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.MarkAsync(RetentionMarkSet.Of([mark]), Ct), Ct)));
        }

        Assert.Equal([mark], await ListAsync(store, RetentionKind.Jobs, Start.AddDays(1)));
    }

    [Fact]
    public async Task A_stopping_marker_cuts_the_back_off_short_and_gives_up_what_cannot_be_written()
    {
        var (store, _) = Create(ImageStoreProvider.LocalDisk);
        var clock = new FakeTimeProvider(Start); // never advanced: only the stop can end the back-off
        var counting = new CountingRetentionStore(store) { Failures = int.MaxValue };
        var marker = new RetentionMarker(counting, clock, NullLogger<RetentionMarker>.Instance);
        marker.Mark(new RetentionMark(RetentionKind.Jobs, "unwritable", Start));
        var waiting = DateTime.UtcNow.AddSeconds(10);
        while (counting.Failed == 0 && DateTime.UtcNow < waiting)
        {
            await Task.Delay(5, Ct);
        }

        Assert.Equal(1, counting.Failed); // tried once, now waiting half a second that never passes

        await marker.StopAsync(Ct).WaitAsync(TimeSpan.FromSeconds(5), Ct);

        Assert.Equal((2, 1L), (counting.Failed, marker.Lost)); // one more try at the stop, then given up
    }

    private static async Task AdvanceUntilAsync(FakeTimeProvider clock, Task task)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!task.IsCompleted && DateTime.UtcNow < deadline)
        {
            clock.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(5, Ct);
        }

        await task.WaitAsync(TimeSpan.FromSeconds(1), Ct);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Nothing_is_listed_before_anything_was_stored(ImageStoreProvider provider)
    {
        var (store, _) = Create(provider);

        Assert.Empty(await ListAsync(store, RetentionKind.Jobs, Start.AddYears(10)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task An_item_untouched_since_the_cutoff_is_deleted_and_a_touched_one_stays(ImageStoreProvider provider)
    {
        var (store, images) = Create(provider);
        var old = await images.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        var used = await images.SaveInputAsync(TestImages.UniquePng(), Ct);
        _clock.Advance(TimeSpan.FromHours(2));
        var young = await images.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        Assert.True(await store.TouchAsync(used, _clock.GetUtcNow(), Ct));
        var cutoff = Start.AddHours(1);

        Assert.Equal(ReapOutcome.Deleted, await store.DeleteIfUntouchedAsync(old.Key, cutoff, Ct));
        Assert.Equal(ReapOutcome.Kept, await store.DeleteIfUntouchedAsync(used, cutoff, Ct));
        Assert.Equal(ReapOutcome.Kept, await store.DeleteIfUntouchedAsync(young.Key, cutoff, Ct));
        Assert.Equal(ReapOutcome.Missing, await store.DeleteIfUntouchedAsync(old.Key, cutoff, Ct));

        Assert.Null(await images.ReadAsync(old.Key, Ct));
        Assert.NotNull(await images.ReadAsync(used, Ct));
        Assert.NotNull(await images.ReadAsync(young.Key, Ct));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Uploading_an_old_input_again_keeps_it(ImageStoreProvider provider)
    {
        var (store, images) = Create(provider);
        var bytes = TestImages.UniquePng();
        var key = await images.SaveInputAsync(bytes, Ct);
        _clock.Advance(TimeSpan.FromHours(2));

        await images.SaveInputAsync(bytes, Ct);

        Assert.Equal(ReapOutcome.Kept, await store.DeleteIfUntouchedAsync(key, Start.AddHours(1), Ct));
        Assert.Equal(bytes, await images.ReadAsync(key, Ct));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_deleted_item_is_stored_again_by_the_next_save_and_cannot_be_touched_before(ImageStoreProvider provider)
    {
        var (store, images) = Create(provider);
        var bytes = TestImages.UniquePng();
        var key = await images.SaveInputAsync(bytes, Ct);
        _clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(ReapOutcome.Deleted, await store.DeleteIfUntouchedAsync(key, Start.AddHours(1), Ct));

        Assert.False(await store.TouchAsync(key, _clock.GetUtcNow(), Ct));
        Assert.Equal(key, await images.SaveInputAsync(bytes, Ct));

        Assert.Equal(bytes, await images.ReadAsync(key, Ct));
        Assert.Equal(ReapOutcome.Kept, await store.DeleteIfUntouchedAsync(key, Start.AddHours(1), Ct));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Concurrent_deletes_of_one_item_delete_it_once(ImageStoreProvider provider)
    {
        var (store, images) = Create(provider);
        var image = await images.SaveImageAsync(TestImages.UniquePng(), 1, 64, 64, Ct);
        _clock.Advance(TimeSpan.FromHours(2));

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.DeleteIfUntouchedAsync(image.Key, Start.AddHours(1), Ct), Ct)));

        Assert.Equal(1, outcomes.Count(o => o == ReapOutcome.Deleted));
        Assert.All(outcomes, o => Assert.NotEqual(ReapOutcome.Kept, o));
        Assert.Null(await images.ReadAsync(image.Key, Ct));
    }

    [Fact]
    public async Task Marks_are_no_image_keys()
    {
        var (_, images) = Create(ImageStoreProvider.LocalDisk);

        await Assert.ThrowsAsync<ArgumentException>(() => images.ReadAsync("retention/jobs/20310506T0708090000000Z-a", Ct));
        Assert.Throws<ArgumentException>(() => new RetentionMark(RetentionKind.Jobs, "../escape", Start));
        Assert.Throws<ArgumentException>(() => new RetentionMark(RetentionKind.Jobs, "a/b", Start));
    }

    private (IRetentionStore Retention, IImageStore Images) Create(ImageStoreProvider provider)
    {
        var options = Options.Create(new ImageStoreOptions
        {
            Provider = provider,
            LocalRoot = _root.Path,
            ConnectionString = azurite.ConnectionString,
            Container = _container,
        });
        IImageStore store = provider == ImageStoreProvider.LocalDisk
            ? new LocalDiskImageStore(options, _clock)
            : new AzureBlobImageStore(options, _clock, NullLogger<AzureBlobImageStore>.Instance);
        return ((IRetentionStore)store, store);
    }

    private static async Task<List<RetentionMarkSet>> ListSetsAsync(IRetentionStore store, RetentionKind kind, DateTimeOffset cutoff)
    {
        var sets = new List<RetentionMarkSet>();
        await foreach (var set in store.ListMarksAsync(kind, cutoff, Ct))
        {
            sets.Add(set);
        }

        return sets;
    }

    private static async Task<List<RetentionMark>> ListAsync(IRetentionStore store, RetentionKind kind, DateTimeOffset cutoff)
    {
        var marks = new List<RetentionMark>();
        await foreach (var set in store.ListMarksAsync(kind, cutoff, Ct))
        {
            marks.AddRange(set.Marks);
        }

        return marks;
    }

    /// <summary>A real store that counts the sets written, and can hold or fail the next write.</summary>
    private sealed class CountingRetentionStore(IRetentionStore inner) : IRetentionStore
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public TaskCompletionSource? Hold { get; set; }

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>How many of the next writes fail (as a storage outage does).</summary>
        public int Failures { get; set; }

        public int Failed { get; private set; }

        public async Task MarkAsync(RetentionMarkSet marks, CancellationToken cancellationToken)
        {
            Started.TrySetResult();
            if (Hold is { } hold)
            {
                Hold = null;
                await hold.Task;
            }

            if (Failures > 0)
            {
                Failures--;
                Failed++;
                throw new ImageStoreUnavailableException("storage is down");
            }

            Interlocked.Increment(ref _writes);
            await inner.MarkAsync(marks, cancellationToken);
        }

        public IAsyncEnumerable<RetentionMarkSet> ListMarksAsync(RetentionKind kind, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
            inner.ListMarksAsync(kind, cutoff, cancellationToken);

        public Task RemoveMarksAsync(RetentionMarkSet marks, CancellationToken cancellationToken) => inner.RemoveMarksAsync(marks, cancellationToken);

        public Task<bool> TouchAsync(string key, DateTimeOffset at, CancellationToken cancellationToken) => inner.TouchAsync(key, at, cancellationToken);

        public Task<ReapOutcome> DeleteIfUntouchedAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
            inner.DeleteIfUntouchedAsync(key, cutoff, cancellationToken);
    }
}
