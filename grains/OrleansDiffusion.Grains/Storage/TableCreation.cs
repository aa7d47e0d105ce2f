using Azure.Data.Tables;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Creates a table once, on first use, for every caller at once; a failed creation (storage may have blinked) is tried
/// again by the next caller.
/// </summary>
internal sealed class TableCreation(TableClient table)
{
    private readonly Lock _gate = new();
    private Task? _created;

    /// <summary>Ends when the table exists.</summary>
    public Task EnsureAsync()
    {
        lock (_gate)
        {
            if (_created is null || _created.IsFaulted || _created.IsCanceled)
            {
                _created = table.CreateIfNotExistsAsync();
            }

            return _created;
        }
    }
}
