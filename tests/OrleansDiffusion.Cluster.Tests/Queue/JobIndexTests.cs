using Azure.Data.Tables;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Cluster.Tests.Queue;

/// <summary>
/// The job index behind <c>GET /v1/generations</c>, on Azurite and in memory: one row per job, newest first, per key,
/// read a page at a time after a position, and a burst of one key's jobs shares its writes.
/// </summary>
public sealed class JobIndexTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Stores => ["azure", "memory"];

    private IJobIndex Store(string kind) => kind == "azure"
        ? new AzureTableJobIndex(new TableServiceClient(azurite.ConnectionString), "j" + Guid.NewGuid().ToString("N")[..12])
        : new MemoryJobIndex();

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_keys_jobs_are_listed_newest_first_a_page_at_a_time_and_removed_ones_are_gone(string kind)
    {
        var index = Store(kind);
        var jobs = Enumerable.Range(0, 7).Select(_ => Guid.NewGuid()).ToList();
        await Task.WhenAll(jobs.Select((job, i) => index.AddAsync("alice/with#odd?chars", job, Start.AddSeconds(i))));
        await index.AddAsync("bob", Guid.NewGuid(), Start.AddSeconds(100));
        await index.RemoveAsync("alice/with#odd?chars", jobs[3], Start.AddSeconds(3));

        var listed = new List<Guid>();
        string? after = null;
        var pages = 0;
        while (true)
        {
            var page = await index.ListAsync("alice/with#odd?chars", after, 4, TestContext.Current.CancellationToken);
            listed.AddRange(page.Jobs.Select(e => e.Job));
            pages++;
            if (!page.More)
            {
                break;
            }

            after = page.Jobs[^1].Position;
        }

        Assert.Equal(2, pages);
        Assert.Equal([jobs[6], jobs[5], jobs[4], jobs[2], jobs[1], jobs[0]], listed);
        Assert.Empty((await index.ListAsync("carol", null, 10, TestContext.Current.CancellationToken)).Jobs);
    }

    [Fact]
    public async Task A_burst_of_one_keys_jobs_shares_transactions()
    {
        var counter = new QueueStoreTests.RequestCounter();
        var options = new TableClientOptions();
        options.AddPolicy(counter, Azure.Core.HttpPipelinePosition.PerRetry);
        var index = new AzureTableJobIndex(new TableServiceClient(azurite.ConnectionString, options), "j" + Guid.NewGuid().ToString("N")[..12]);
        await index.AddAsync("alice", Guid.NewGuid(), Start); // creates the table
        counter.Take();

        await Task.WhenAll(Enumerable.Range(1, 60).Select(i => index.AddAsync("alice", Guid.NewGuid(), Start.AddSeconds(i))));

        Assert.InRange(counter.Take().Requests, 1, 10);
        var page = await index.ListAsync("alice", null, 100, TestContext.Current.CancellationToken);
        Assert.Equal(61, page.Jobs.Count);
    }

    [Fact]
    public void A_position_sorts_newer_jobs_first_and_only_positions_pass_as_cursors()
    {
        var job = Guid.NewGuid();
        var older = IJobIndex.PositionOf(job, Start);
        var newer = IJobIndex.PositionOf(job, Start.AddTicks(1));

        Assert.True(string.CompareOrdinal(newer, older) < 0);
        Assert.True(IJobIndex.IsPosition(older));
        Assert.Equal(job, IJobIndex.JobOf(older));
        Assert.False(IJobIndex.IsPosition(older[..^1]));
        Assert.False(IJobIndex.IsPosition("x" + older[1..]));
        Assert.False(IJobIndex.IsPosition(older.Replace('-', '_')));
    }
}
