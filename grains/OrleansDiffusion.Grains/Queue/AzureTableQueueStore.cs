using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// Queue entries as Azure Table rows: partition key = queue partition, row key = request key, a few small columns. Writes
/// to one partition are group-committed (<see cref="TableGroupCommit"/>), so a burst costs a fraction of a request per
/// operation and every add still waits until its row is stored. Removals are not waited for: they ride along with the next
/// transaction, or go on their own after <see cref="RemoveDelay"/>. A removal that never reaches storage (the process
/// died first) leaves a row that a restarted partition loads as pending; whoever leases it hears from the entry's owner
/// that it is decided, and it is removed again.
/// </summary>
public sealed class AzureTableQueueStore(TableServiceClient service, string tableName = StorageNames.QueueTable) : IQueueStore
{
    /// <summary>How long removals wait for an add to travel with before they go on their own.</summary>
    public static readonly TimeSpan RemoveDelay = TimeSpan.FromSeconds(1);

    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly ConcurrentDictionary<string, TableGroupCommit> _writers = new(StringComparer.Ordinal);
    private readonly TableCreation _creation = new(service.GetTableClient(tableName));

    public async Task<IReadOnlyList<QueueEntry>> LoadAsync(string partition, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        var entries = new List<QueueEntry>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition}");
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            entries.Add(new QueueEntry(
                row.RowKey,
                row.GetString("ApiKey") ?? string.Empty,
                row.GetString("Model") ?? string.Empty,
                row.GetString("BatchKey"),
                row.GetInt32("Cost") ?? 1,
                row.GetDateTimeOffset("EnqueuedAt") ?? row.Timestamp ?? DateTimeOffset.UtcNow));
        }

        return [.. entries.OrderBy(e => e.EnqueuedAt)];
    }

    public Task AddAsync(string partition, QueueEntry entry) =>
        WriterOf(partition).Submit(new TableTransactionAction(TableTransactionActionType.UpsertReplace, RowOf(partition, entry)));

    /// <summary>Schedules the removal and returns at once (see the class remarks).</summary>
    public Task RemoveAsync(string partition, string key)
    {
        _ = WriterOf(partition).Submit(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, key), ETag.All));
        return Task.CompletedTask;
    }

    private static TableEntity RowOf(string partition, QueueEntry entry) => new(partition, entry.Key)
    {
        ["ApiKey"] = entry.ApiKey,
        ["Model"] = entry.Model,
        ["BatchKey"] = entry.BatchKey,
        ["Cost"] = entry.Cost,
        ["EnqueuedAt"] = entry.EnqueuedAt,
    };

    private TableGroupCommit WriterOf(string partition) => _writers.GetOrAdd(partition, _ => new TableGroupCommit(_table, _creation.EnsureAsync, RemoveDelay));
}
