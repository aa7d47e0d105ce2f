using Azure.Data.Tables;
using Azure.Storage.Blobs;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Retention;

/// <summary>
/// Retention with everything in Azure storage (Azurite): job records in table rows, cache entries in blobs, images,
/// inputs and marks in the image container. What is past its period is deleted from storage (rows, blobs), not only
/// hidden; what is younger stays.
/// </summary>
public sealed class RetentionAzureTests(AzuriteFixture azurite)
{
    private const string GrainStateTable = "OrleansGrainState";

    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rows_and_blobs_past_their_period_are_deleted_and_younger_ones_stay()
    {
        var serviceId = "retain-" + Guid.NewGuid().ToString("N")[..8];
        var container = "r" + Guid.NewGuid().ToString("N")[..20];
        await using var harness = await ClusterHarness.StartAsync(
            2,
            o => o.Retention = RetentionProbe.Hourly(),
            azurite.ConnectionString,
            serviceId: serviceId,
            imageStore: o =>
            {
                o.Provider = ImageStoreProvider.AzureBlob;
                o.ConnectionString = azurite.ConnectionString;
                o.Container = container;
            });
        try
        {
            var old = await harness.RunAsync(ClusterHarness.SmallSpec("old", 1, steps: 4));
            var oldInput = await harness.Images().SaveInputAsync(RetentionProbe.InitImage(5), Ct);
            var oldImg2Img = await harness.RunAsync(RetentionProbe.Img2Img("old img2img", 2, oldInput));
            await Task.Delay(600, Ct);
            var boundary = DateTimeOffset.UtcNow;
            await Task.Delay(600, Ct);
            var young = await harness.RunAsync(ClusterHarness.SmallSpec("young", 3, steps: 4));
            Assert.Equal(3, await JobRowsAsync(serviceId));
            Assert.Equal([young.Id, oldImg2Img.Id, old.Id], await IndexedJobsAsync(old.Id, oldImg2Img.Id, young.Id));
            var blobsBefore = await BlobNamesAsync(container);
            Assert.Contains(oldInput, blobsBefore);
            Assert.Contains(blobsBefore, b => b.StartsWith("retention/jobs/", StringComparison.Ordinal));

            var report = await harness.SweepAsync(boundary + Hour);

            Assert.Equal((2, 2, 2, 1, 0), (report.JobsDeleted, report.ResultsExpired, report.ImagesDeleted, report.InputsDeleted, report.Failed));
            Assert.Equal(1, await JobRowsAsync(serviceId));
            Assert.Equal([young.Id], await IndexedJobsAsync(old.Id, oldImg2Img.Id, young.Id)); // the job list's rows go with the records
            foreach (var job in new[] { old, oldImg2Img })
            {
                Assert.Equal(JobStatus.None, (await harness.Job(job.Id).GetSnapshot()).Status);
                Assert.False(await harness.CacheRecordExistsAsync(job.RequestKey!));
            }

            var blobs = await BlobNamesAsync(container);
            Assert.DoesNotContain(old.Images[0].Key, blobs);
            Assert.DoesNotContain(oldImg2Img.Images[0].Key, blobs);
            Assert.DoesNotContain(oldInput, blobs);
            Assert.Contains(young.Images[0].Key, blobs);
            Assert.True(await harness.CacheRecordExistsAsync(young.RequestKey!));
            Assert.Equal(JobStatus.Succeeded, (await harness.Job(young.Id).GetSnapshot()).Status);
            Assert.Equal(
                [$"retention/jobs/{RetentionMark.Stamp(young.CreatedAt)}-{young.Id:N}", $"retention/results/{RetentionMark.Stamp(young.CompletedAt!.Value)}-{young.RequestKey}"],
                blobs.Where(b => b.StartsWith("retention/", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

            // The same request as a deleted result computes again and stores its image again.
            var again = await harness.RunAsync(ClusterHarness.SmallSpec("old", 1, steps: 4));
            Assert.False(again.Cached);
            Assert.Contains(again.Images[0].Key, await BlobNamesAsync(container));
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    /// <summary>The job record rows of one service id (the table's partition keys start with it).</summary>
    private async Task<int> JobRowsAsync(string serviceId)
    {
        var table = new TableClient(azurite.ConnectionString, GrainStateTable);
        var count = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey ge {serviceId + "_"} and PartitionKey lt {serviceId + "`"}");
        await foreach (var _ in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey"], cancellationToken: Ct))
        {
            count++;
        }

        return count;
    }

    /// <summary>Which of <paramref name="jobs"/> the harness key's job index lists, in its order (newest first).</summary>
    private async Task<List<Guid>> IndexedJobsAsync(params Guid[] jobs)
    {
        var table = new TableClient(azurite.ConnectionString, StorageNames.JobIndexTable);
        var partition = Convert.ToHexString("test"u8);
        var listed = new List<Guid>();
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {partition}"), select: ["RowKey"], cancellationToken: Ct))
        {
            var job = Guid.ParseExact(row.RowKey[20..], "N");
            if (jobs.Contains(job))
            {
                listed.Add(job);
            }
        }

        return listed;
    }

    private async Task<List<string>> BlobNamesAsync(string container)
    {
        var names = new List<string>();
        await foreach (var blob in new BlobContainerClient(azurite.ConnectionString, container).GetBlobsAsync(cancellationToken: Ct))
        {
            names.Add(blob.Name);
        }

        return names;
    }
}
