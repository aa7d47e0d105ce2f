namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Whether this process's image store answered lately, without asking it: an operation that failed for a transient
/// reason (after the client's own retries) marks the store down for <see cref="DownFor"/>, unless an operation succeeds
/// meanwhile. A job grain refuses new work while the store is down (a 503 with <c>Retry-After</c>), rather than accept
/// work whose images cannot be stored; the retention marks, written behind the job path, keep probing it.
/// </summary>
public sealed class ImageStoreHealth(TimeProvider time)
{
    /// <summary>How long one failure counts when nothing succeeds after it.</summary>
    public static readonly TimeSpan DownFor = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private DateTimeOffset? _failedAt;
    private string? _reason;

    /// <summary>True from a transient failure until an operation succeeds or <see cref="DownFor"/> has passed.</summary>
    public bool IsDown
    {
        get
        {
            lock (_gate)
            {
                return _failedAt is { } at && time.GetUtcNow() - at < DownFor;
            }
        }
    }

    /// <summary>Refuses with <see cref="ImageStoreUnavailableException"/> while the store is down.</summary>
    public void ThrowIfDown()
    {
        string? reason;
        lock (_gate)
        {
            reason = _failedAt is { } at && time.GetUtcNow() - at < DownFor ? _reason : null;
        }

        if (reason is not null)
        {
            throw new ImageStoreUnavailableException($"The image store failed moments ago ({reason}); new work is refused until it answers again.");
        }
    }

    public void Succeeded()
    {
        lock (_gate)
        {
            _failedAt = null;
            _reason = null;
        }
    }

    public void Failed(string reason)
    {
        lock (_gate)
        {
            _failedAt = time.GetUtcNow();
            _reason = reason;
        }
    }
}
