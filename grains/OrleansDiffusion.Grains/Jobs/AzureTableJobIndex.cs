using System.Collections.Concurrent;
using System.Text;
using Azure;
using Azure.Data.Tables;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// The index as Azure Table rows: partition key = the API key's name (hex, since a table key may not hold every
/// character a name may), row key = the job's position (<see cref="IJobIndex.PositionOf"/>), no other column. A page is
/// one range query of one partition. A key's writes are group-committed (<see cref="TableGroupCommit"/>), so a burst of
/// one key's jobs shares transactions. Removals go at once, not after a delay: the retention sweep waits for each, and
/// those of one sweep gather while a transaction is in flight.
/// </summary>
public sealed class AzureTableJobIndex(TableServiceClient service, string tableName = StorageNames.JobIndexTable) : IJobIndex
{
    /// <summary>Under load, one transaction per key every quarter second: jobs do not wait for their rows (see <see cref="GenerationJobGrain"/>).</summary>
    private static readonly TimeSpan WriteInterval = TimeSpan.FromMilliseconds(250);

    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly ConcurrentDictionary<string, TableGroupCommit> _writers = new(StringComparer.Ordinal);
    private readonly TableCreation _creation = new(service.GetTableClient(tableName));

    public Task AddAsync(string apiKey, Guid job, DateTimeOffset createdAt) =>
        WriterOf(apiKey).Submit(new TableTransactionAction(TableTransactionActionType.UpsertReplace, RowOf(apiKey, job, createdAt)));

    public Task RemoveAsync(string apiKey, Guid job, DateTimeOffset createdAt) =>
        WriterOf(apiKey).Submit(new TableTransactionAction(TableTransactionActionType.Delete, RowOf(apiKey, job, createdAt), ETag.All));

    public async Task<JobIndexPage> ListAsync(string apiKey, string? after, int max, CancellationToken cancellationToken)
    {
        await _creation.EnsureAsync();
        var partition = PartitionOf(apiKey);
        var filter = after is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {partition}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey gt {after}");
        var rows = new List<string>(max + 1);
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, maxPerPage: max + 1, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            if (IJobIndex.IsPosition(row.RowKey))
            {
                rows.Add(row.RowKey);
            }

            if (rows.Count > max)
            {
                break;
            }
        }

        return new JobIndexPage([.. rows.Take(max).Select(p => new JobIndexEntry(IJobIndex.JobOf(p), p))], More: rows.Count > max);
    }

    private static TableEntity RowOf(string apiKey, Guid job, DateTimeOffset createdAt) => new(PartitionOf(apiKey), IJobIndex.PositionOf(job, createdAt));

    private static string PartitionOf(string apiKey) => Convert.ToHexString(Encoding.UTF8.GetBytes(apiKey));

    private TableGroupCommit WriterOf(string apiKey) => _writers.GetOrAdd(PartitionOf(apiKey), _ => new TableGroupCommit(_table, _creation.EnsureAsync, removeDelay: TimeSpan.Zero, minInterval: WriteInterval));
}
