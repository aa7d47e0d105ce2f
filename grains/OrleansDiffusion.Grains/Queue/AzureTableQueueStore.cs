using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Queue;

/// <summary>
/// Queue entries as Azure Table rows: partition key = queue partition, row key = request key, a few small columns. Writes
/// to one partition are group-committed: while one entity-group transaction (up to 100 rows) is in flight, the next
/// operations gather and go together in the following one, so a burst costs a fraction of a request per operation and
/// every add still waits until its row is stored. Removals are not waited for: they ride along with the next
/// transaction, or go on their own after <see cref="RemoveDelay"/>. A removal that never reaches storage (the process
/// died first) leaves a row that a restarted partition loads as pending; whoever leases it hears from the entry's owner
/// that it is decided, and it is removed again.
/// </summary>
public sealed class AzureTableQueueStore(TableServiceClient service, string tableName = StorageNames.QueueTable) : IQueueStore
{
    // The entity-group transaction limit.
    private const int MaxBatch = 100;

    /// <summary>How long removals wait for an add to travel with before they go on their own.</summary>
    public static readonly TimeSpan RemoveDelay = TimeSpan.FromSeconds(1);

    private readonly TableClient _table = service.GetTableClient(tableName);
    private readonly ConcurrentDictionary<string, Writer> _writers = new(StringComparer.Ordinal);
    private readonly Lock _createGate = new();
    private Task? _created;

    public async Task<IReadOnlyList<QueueEntry>> LoadAsync(string partition, CancellationToken cancellationToken)
    {
        await EnsureTableAsync();
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
        WriterOf(partition).Submit(new Operation(entry.Key, new TableTransactionAction(TableTransactionActionType.UpsertReplace, RowOf(partition, entry))));

    /// <summary>Schedules the removal and returns at once (see the class remarks).</summary>
    public Task RemoveAsync(string partition, string key)
    {
        _ = WriterOf(partition).Submit(new Operation(key, new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(partition, key), ETag.All)));
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

    private Writer WriterOf(string partition) => _writers.GetOrAdd(partition, _ => new Writer(this));

    private Task EnsureTableAsync()
    {
        lock (_createGate)
        {
            // A failed creation is tried again by the next caller (storage may have blinked).
            if (_created is null || _created.IsFaulted || _created.IsCanceled)
            {
                _created = _table.CreateIfNotExistsAsync();
            }

            return _created;
        }
    }

    private sealed record Operation(string Key, TableTransactionAction Action)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One partition's group commit: one transaction in flight at a time; what arrives meanwhile goes in the next.</summary>
    private sealed class Writer(AzureTableQueueStore store)
    {
        private readonly Lock _gate = new();
        private readonly List<Operation> _waiting = [];
        private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _flushing;

        public Task Submit(Operation operation)
        {
            var removal = operation.Action.ActionType == TableTransactionActionType.Delete;
            lock (_gate)
            {
                _waiting.Add(operation);
                if (!_flushing)
                {
                    _flushing = true;
                    _ = Task.Run(() => FlushAsync(removal ? RemoveDelay : TimeSpan.Zero));
                }
                else if (!removal)
                {
                    _wake.TrySetResult(); // an add does not wait for removals' delay
                }
            }

            return operation.Done.Task;
        }

        private async Task FlushAsync(TimeSpan delay)
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.WhenAny(_wake.Task, Task.Delay(delay));
            }

            while (true)
            {
                List<Operation> batch;
                lock (_gate)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    batch = TakeBatch();
                    if (batch.Count == 0)
                    {
                        _flushing = false;
                        return;
                    }
                }

                await WriteAsync(batch);
            }
        }

        /// <summary>Up to 100 operations in arrival order, at most one per row (a transaction may not touch a row twice).</summary>
        private List<Operation> TakeBatch()
        {
            var batch = new List<Operation>();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < _waiting.Count && batch.Count < MaxBatch; i++)
            {
                if (keys.Add(_waiting[i].Key))
                {
                    batch.Add(_waiting[i]);
                }
                else
                {
                    break; // keep the order of operations on one row: the rest waits for the next transaction
                }
            }

            _waiting.RemoveRange(0, batch.Count);
            return batch;
        }

        private async Task WriteAsync(List<Operation> batch)
        {
            try
            {
                await store.EnsureTableAsync();
                if (batch.Count == 1)
                {
                    await WriteOneAsync(batch[0]);
                }
                else
                {
                    await store._table.SubmitTransactionAsync(batch.Select(o => o.Action));
                }

                batch.ForEach(o => o.Done.TrySetResult());
            }
            catch (TableTransactionFailedException)
            {
                // One action failed (a row deleted twice, say): the transaction wrote nothing; each goes on its own.
                foreach (var operation in batch)
                {
                    try
                    {
                        await WriteOneAsync(operation);
                        operation.Done.TrySetResult();
                    }
                    catch (Exception e)
                    {
                        operation.Done.TrySetException(e);
                    }
                }
            }
            catch (Exception e)
            {
                batch.ForEach(o => o.Done.TrySetException(e));
            }
        }

        private async Task WriteOneAsync(Operation operation)
        {
            var entity = operation.Action.Entity;
            if (operation.Action.ActionType == TableTransactionActionType.Delete)
            {
                try
                {
                    await store._table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All);
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    // Already gone: what a delete wants.
                }
            }
            else
            {
                await store._table.UpsertEntityAsync(entity, TableUpdateMode.Replace);
            }
        }
    }
}
