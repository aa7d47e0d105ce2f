using System.Collections.Concurrent;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>Unfinished webhooks in this silo's memory (the zero-config default): they do not outlive the process.</summary>
public sealed class MemoryWebhookStore : IWebhookStore
{
    private readonly ConcurrentDictionary<(int Partition, Guid Job), string> _records = new();

    public Task<WebhookRecord?> ReadAsync(int partition, Guid job, CancellationToken cancellationToken) =>
        Task.FromResult(_records.TryGetValue((partition, job), out var json) ? WebhookRecordJson.Read(json) : null);

    public Task WriteAsync(int partition, WebhookRecord record, CancellationToken cancellationToken)
    {
        _records[(partition, record.Job)] = WebhookRecordJson.Write(record);
        return Task.CompletedTask;
    }

    public Task DeleteAsync(int partition, Guid job, CancellationToken cancellationToken)
    {
        _records.TryRemove((partition, job), out _);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Guid>> ListAsync(int partition, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Guid>>([.. _records.Keys.Where(k => k.Partition == partition).Select(k => k.Job)]);
}
