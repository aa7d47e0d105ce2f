using System.Globalization;
using Azure;
using Azure.Data.Tables;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Unfinished webhooks as Azure Table rows (table <see cref="StorageNames.WebhookTable"/>): partition key = outbox
/// partition, row key = job id, the record as JSON in one column. A row is only ever read, replaced or deleted by its
/// job's webhook grain; the outbox lists row keys only.
/// </summary>
public sealed class AzureTableWebhookStore(TableServiceClient service, string tableName = StorageNames.WebhookTable) : IWebhookStore
{
    private const string StateColumn = "State";

    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly TableCreation _creation = new(service.GetTableClient(tableName));

    public async Task<WebhookRecord?> ReadAsync(int partition, Guid job, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(PartitionKey(partition), RowKey(job), [StateColumn], cancellationToken);
        return row.HasValue && row.Value!.GetString(StateColumn) is { } json ? WebhookRecordJson.Read(json) : null;
    }

    public async Task WriteAsync(int partition, WebhookRecord record, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        var row = new TableEntity(PartitionKey(partition), RowKey(record.Job)) { [StateColumn] = WebhookRecordJson.Write(record) };
        await _table.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken);
    }

    public async Task DeleteAsync(int partition, Guid job, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        try
        {
            await _table.DeleteEntityAsync(PartitionKey(partition), RowKey(job), ETag.All, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // Deleted before: nothing left to do.
        }
    }

    public async Task<IReadOnlyList<Guid>> ListAsync(int partition, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        var jobs = new List<Guid>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {PartitionKey(partition)}");
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            if (Guid.TryParseExact(row.RowKey, "N", out var job))
            {
                jobs.Add(job);
            }
        }

        return jobs;
    }

    private static string PartitionKey(int partition) => partition.ToString("D3", CultureInfo.InvariantCulture);

    private static string RowKey(Guid job) => job.ToString("N");
}
