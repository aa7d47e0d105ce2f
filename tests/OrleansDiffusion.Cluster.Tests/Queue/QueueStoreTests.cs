using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Queue;

namespace OrleansDiffusion.Cluster.Tests.Queue;

/// <summary>The queue's storage on Azurite: one row per entry, so an operation costs the same whatever the backlog.</summary>
public sealed class QueueStoreTests(AzuriteFixture azurite)
{
    private static QueueEntry Entry(int i) => new($"{i:D64}", "alice", "demo", "demo|64x64|4|euler|cfg", 4, DateTimeOffset.UnixEpoch.AddSeconds(i));

    [Fact]
    public async Task An_enqueue_and_a_completion_write_the_same_bytes_whatever_the_backlog()
    {
        var counter = new RequestCounter();
        var store = new AzureTableQueueStore(Tables(counter), "q" + Guid.NewGuid().ToString("N")[..12]);
        var partition = "demo~0";
        await store.AddAsync(partition, Entry(999)); // creates the table
        await RemoveAndSettleAsync(store, partition, 999);
        counter.Take();

        await store.AddAsync(partition, Entry(0));
        var emptyAdd = counter.Take();
        await RemoveAndSettleAsync(store, partition, 0);
        var emptyRemove = counter.Take();

        for (var i = 1; i <= 300; i++)
        {
            await store.AddAsync(partition, Entry(i));
        }

        counter.Take();
        await store.AddAsync(partition, Entry(1000));
        var lateAdd = counter.Take();
        await RemoveAndSettleAsync(store, partition, 1000);
        var lateRemove = counter.Take();

        // One request each, the same bytes with 300 entries waiting as with none: one small row, never the queue.
        Assert.Equal((1, emptyAdd.Bytes), lateAdd);
        Assert.Equal((1, emptyRemove.Bytes), lateRemove);
        Assert.Equal(1, emptyAdd.Requests);
        Assert.InRange(lateAdd.Bytes, 1, 1024);
        Assert.Equal(300, (await store.LoadAsync(partition, TestContext.Current.CancellationToken)).Count);
    }

    [Fact]
    public async Task Concurrent_operations_on_a_partition_are_committed_together()
    {
        var counter = new RequestCounter();
        var store = new AzureTableQueueStore(Tables(counter), "q" + Guid.NewGuid().ToString("N")[..12]);
        await store.AddAsync("demo~1", Entry(0)); // creates the table
        counter.Take();

        await Task.WhenAll(Enumerable.Range(1, 60).Select(i => store.AddAsync("demo~1", Entry(i))));
        var (adds, _) = counter.Take();
        await Task.WhenAll(Enumerable.Range(1, 60).Select(i => store.RemoveAsync("demo~1", Entry(i).Key)));
        await Task.Delay(AzureTableQueueStore.RemoveDelay * 3, TestContext.Current.CancellationToken);
        var (removes, _) = counter.Take();

        // While one transaction is in flight the next operations gather, and removals wait to go together: 60
        // operations, a few requests.
        Assert.InRange(adds, 1, 10);
        Assert.InRange(removes, 1, 10);
        var left = await store.LoadAsync("demo~1", TestContext.Current.CancellationToken);
        Assert.Equal([Entry(0)], left);
    }

    [Fact]
    public async Task Removing_a_row_twice_in_one_transaction_does_not_fail_the_others()
    {
        var store = new AzureTableQueueStore(Tables(new RequestCounter()), "q" + Guid.NewGuid().ToString("N")[..12]);
        await Task.WhenAll(Enumerable.Range(0, 5).Select(i => store.AddAsync("demo~2", Entry(i))));

        // Entry 9 was never stored: its delete fails inside the transaction, which then goes row by row.
        await Task.WhenAll(new[] { 1, 9, 2 }.Select(i => store.RemoveAsync("demo~2", Entry(i).Key)));
        await Task.Delay(AzureTableQueueStore.RemoveDelay * 3, TestContext.Current.CancellationToken);

        Assert.Equal([Entry(0), Entry(3), Entry(4)], await store.LoadAsync("demo~2", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_removal_does_not_overtake_a_later_add_of_the_same_row()
    {
        var store = new AzureTableQueueStore(Tables(new RequestCounter()), "q" + Guid.NewGuid().ToString("N")[..12]);
        await store.AddAsync("demo~3", Entry(1));

        // The request failed and was submitted again: its entry is removed, then queued again, before the removal went.
        await store.RemoveAsync("demo~3", Entry(1).Key);
        await store.AddAsync("demo~3", Entry(1));
        await Task.Delay(AzureTableQueueStore.RemoveDelay * 3, TestContext.Current.CancellationToken);

        Assert.Equal([Entry(1)], await store.LoadAsync("demo~3", TestContext.Current.CancellationToken));
    }

    /// <summary>Removals are not waited for (they go with the next write or after a delay): wait until it went.</summary>
    private static async Task RemoveAndSettleAsync(AzureTableQueueStore store, string partition, int entry)
    {
        await store.RemoveAsync(partition, Entry(entry).Key);
        await Task.Delay(AzureTableQueueStore.RemoveDelay * 3, TestContext.Current.CancellationToken);
    }

    private TableServiceClient Tables(RequestCounter counter)
    {
        var options = new TableClientOptions();
        options.AddPolicy(counter, HttpPipelinePosition.PerRetry);
        return new TableServiceClient(azurite.ConnectionString, options);
    }

    /// <summary>Counts the requests sent to storage and the bytes of their bodies.</summary>
    internal sealed class RequestCounter : HttpPipelineSynchronousPolicy
    {
        private int _requests;
        private long _bytes;

        public override void OnSendingRequest(HttpMessage message)
        {
            Interlocked.Increment(ref _requests);
            if (message.Request.Content?.TryComputeLength(out var length) == true)
            {
                Interlocked.Add(ref _bytes, length);
            }
        }

        public (int Requests, long Bytes) Take() => (Interlocked.Exchange(ref _requests, 0), Interlocked.Exchange(ref _bytes, 0));
    }
}
