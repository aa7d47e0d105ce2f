namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Where unfinished webhooks are kept: one record per job in an outbox partition, written when an event is added or
/// delivered and deleted when the last one is, so a job's webhook costs a few small writes whatever the number of jobs.
/// </summary>
public interface IWebhookStore
{
    Task<WebhookRecord?> ReadAsync(int partition, Guid job, CancellationToken cancellationToken);

    Task WriteAsync(int partition, WebhookRecord record, CancellationToken cancellationToken);

    Task DeleteAsync(int partition, Guid job, CancellationToken cancellationToken);

    /// <summary>The jobs with an unfinished webhook in <paramref name="partition"/>.</summary>
    Task<IReadOnlyList<Guid>> ListAsync(int partition, CancellationToken cancellationToken);
}
