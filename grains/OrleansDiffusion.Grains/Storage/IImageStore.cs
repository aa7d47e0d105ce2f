using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Where images live: content-addressed PNGs (<c>images/{sha256}.png</c>) and uploaded img2img inputs
/// (<c>inputs/{sha256}</c>). Saving the same bytes twice is a no-op. Transient storage faults are retried inside;
/// what still fails surfaces as <see cref="ImageStoreUnavailableException"/> (retriable).
/// </summary>
public interface IImageStore
{
    /// <summary>
    /// Stores a generated PNG and returns its reference; the image is durable when the task completes. The bytes are
    /// read until then (a worker passes a pooled buffer and reuses it afterwards).
    /// </summary>
    Task<ImageRef> SaveImageAsync(ReadOnlyMemory<byte> png, long seed, int width, int height, CancellationToken cancellationToken);

    /// <summary>Stores an uploaded init image and returns its key.</summary>
    Task<string> SaveInputAsync(byte[] bytes, CancellationToken cancellationToken);

    /// <summary>The bytes under <paramref name="key"/>, or null when there is none.</summary>
    Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    /// <summary>A time-limited read URL (a SAS URL for blob storage), or null when the store cannot issue one (local disk).</summary>
    Task<Uri?> GetReadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken);
}
