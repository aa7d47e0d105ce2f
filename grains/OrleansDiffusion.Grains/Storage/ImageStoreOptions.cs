namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Where images are stored (configuration section <see cref="SectionName"/>). The defaults give a zero-configuration
/// local-disk store; set <see cref="Provider"/> to <see cref="ImageStoreProvider.AzureBlob"/> and
/// <see cref="ConnectionString"/> for a store that every silo shares. Validated when the host starts.
/// </summary>
public sealed class ImageStoreOptions
{
    /// <summary>The configuration section these options are usually bound from.</summary>
    public const string SectionName = "Diffusion:ImageStore";

    /// <summary>Which store to use. Default: <see cref="ImageStoreProvider.LocalDisk"/>.</summary>
    public ImageStoreProvider Provider { get; set; } = ImageStoreProvider.LocalDisk;

    /// <summary>
    /// Root folder of the local-disk store. A relative path is resolved against the process's current directory
    /// when the store is created. Default: <c>data/images</c> (so <c>./data/images</c> beside where the silo runs).
    /// </summary>
    public string LocalRoot { get; set; } = Path.Combine("data", "images");

    /// <summary>
    /// Azure Storage connection string for <see cref="ImageStoreProvider.AzureBlob"/>. Required by that provider, and
    /// it must carry an account key (SAS read URLs are signed with it); Azurite's development connection string does.
    /// Default: none.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Blob container that holds the images; created if missing. Default: <c>images</c>.</summary>
    public string Container { get; set; } = "images";

    /// <summary>How long a read URL handed to a client stays valid. Default: 60 minutes.</summary>
    public TimeSpan ReadUrlLifetime { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>
    /// Retries of one blob operation after a transient failure (5xx, timeout, connection refused) before it fails
    /// with <see cref="ImageStoreUnavailableException"/>. With the default delays, 6 retries ride out a storage
    /// outage of roughly 15 seconds. Default: 6.
    /// </summary>
    public int MaxRetries { get; set; } = 6;

    /// <summary>First delay of the exponential back-off (doubled per retry, with jitter). Default: 500 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of one back-off delay. Default: 4 seconds.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>Time one try may take before it is abandoned and retried. Default: 10 seconds.</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
