using System.Diagnostics;
using Azure;
using Azure.Data.Tables;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Group commit of the writes to one Azure Table partition: while one entity-group transaction (up to 100 rows) is in
/// flight, the next operations gather and go together in the following one, so a burst costs a fraction of a request per
/// operation and every operation still completes only once its row is stored. Deletions wait up to
/// <paramref name="removeDelay"/> for an upsert to travel with. With <paramref name="minInterval"/>, a transaction that
/// found operations waiting when it ended is followed by the next no sooner than that after it began (more per
/// transaction, for writes nobody waits on). A transaction that fails for one action (a row deleted twice) is retried
/// action by action. Used by the queue's entries and the job index.
/// </summary>
public sealed class TableGroupCommit(TableClient table, Func<Task> ensureTable, TimeSpan removeDelay, TimeSpan minInterval = default)
{
    // The entity-group transaction limit.
    private const int MaxBatch = 100;

    private readonly Lock _gate = new();
    private readonly List<Operation> _waiting = [];
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _flushing;

    /// <summary>Queues one row's upsert (replace) or delete; completes once it is stored.</summary>
    public Task Submit(TableTransactionAction action)
    {
        var operation = new Operation(action);
        var removal = action.ActionType == TableTransactionActionType.Delete;
        lock (_gate)
        {
            _waiting.Add(operation);
            if (!_flushing)
            {
                _flushing = true;
                _ = Task.Run(() => FlushAsync(removal ? removeDelay : TimeSpan.Zero));
            }
            else if (!removal)
            {
                _wake.TrySetResult(); // an upsert does not wait for removals' delay
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

        long? lastStart = null;
        while (true)
        {
            if (lastStart is { } started && minInterval > TimeSpan.Zero)
            {
                bool pending;
                lock (_gate)
                {
                    pending = _waiting.Count > 0;
                }

                if (pending && Stopwatch.GetElapsedTime(started) is var elapsed && elapsed < minInterval)
                {
                    await Task.Delay(minInterval - elapsed);
                }
            }

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

            lastStart = Stopwatch.GetTimestamp();
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
            if (keys.Add(_waiting[i].Action.Entity.RowKey))
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
            await ensureTable();
            if (batch.Count == 1)
            {
                await WriteOneAsync(batch[0]);
            }
            else
            {
                await table.SubmitTransactionAsync(batch.Select(o => o.Action));
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
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, ETag.All);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Already gone: what a delete wants.
            }
        }
        else
        {
            await table.UpsertEntityAsync(entity, TableUpdateMode.Replace);
        }
    }

    private sealed record Operation(TableTransactionAction Action)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
