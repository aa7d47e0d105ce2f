using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Retention;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Images as blobs in one container of an Azure Storage account (or Azurite), shared by every silo. Blob names are the
/// content-addressed keys, uploads are conditional (<c>If-None-Match: *</c>) so saving the same bytes twice writes once,
/// and read URLs are SAS URLs signed with the account key. The client retries transient faults with exponential
/// back-off (<see cref="ImageStoreOptions.MaxRetries"/> and the delays beside it); what still fails surfaces as
/// <see cref="ImageStoreUnavailableException"/> and marks the store down in <see cref="ImageStoreHealth"/> for a while.
/// A blob's touched time (see <see cref="IRetentionStore"/>) is its <c>touched</c> metadata, set by every save (saving
/// stored content again sets only that) and every use; the retention marks are blobs under <c>retention/{kind}/</c>,
/// whose names sort by date: an empty blob per single mark, a short list per group of marks.
/// </summary>
public sealed partial class AzureBlobImageStore : IImageStore, IRetentionStore
{
    private const string TouchedMetadata = "touched";
    private const string RetentionPrefix = "retention/";

    private const string PngContentType = "image/png";
    private const string InputContentType = "application/octet-stream";

    // A key names its content for ever, so a browser or CDN may keep it for ever.
    private const string ImmutableCacheControl = "public, max-age=31536000, immutable";

    private readonly BlobContainerClient _container;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ImageStoreHealth _health;
    private readonly Lock _containerGate = new();
    private Task? _containerCreation;

    public AzureBlobImageStore(IOptions<ImageStoreOptions> options, TimeProvider timeProvider, ILogger<AzureBlobImageStore> logger, ImageStoreHealth? health = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var settings = options.Value;
        if (string.IsNullOrWhiteSpace(settings.ConnectionString))
        {
            throw new ArgumentException(
                $"{ImageStoreOptions.SectionName}:ConnectionString is required for the Azure Blob image store.", nameof(options));
        }

        _container = new BlobServiceClient(settings.ConnectionString, CreateClientOptions(settings))
            .GetBlobContainerClient(settings.Container);
        _timeProvider = timeProvider;
        _logger = logger;
        _health = health ?? new ImageStoreHealth(timeProvider);
    }

    /// <summary>The container's URI (without credentials).</summary>
    public Uri ContainerUri => _container.Uri;

    public async Task<ImageRef> SaveImageAsync(ReadOnlyMemory<byte> png, long seed, int width, int height, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(png);
        var key = ImageKeys.ForImage(png.Span);
        await UploadOnceAsync(key, png, PngContentType, cancellationToken);
        return new ImageRef(key, seed, width, height, png.Length);
    }

    public async Task<string> SaveInputAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(bytes);
        var key = ImageKeys.ForInput(bytes);
        await UploadOnceAsync(key, bytes, InputContentType, cancellationToken);
        return key;
    }

    public Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        var blob = _container.GetBlobClient(key);
        return RunAsync("read", key, async () =>
        {
            try
            {
                var download = await blob.DownloadContentAsync(cancellationToken);
                return download.Value.Content.ToArray();
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                return null; // No such blob, or no container yet.
            }
        }, cancellationToken);
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        var blob = _container.GetBlobClient(key);
        return RunAsync("check", key, async () => (await blob.ExistsAsync(cancellationToken)).Value, cancellationToken);
    }

    public Task<Uri?> GetReadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(validFor, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        var blob = _container.GetBlobClient(key);
        if (!blob.CanGenerateSasUri)
        {
            return Task.FromResult<Uri?>(null); // A credential without an account key cannot sign; options validation rejects it.
        }

        // Signed locally with the account key: no request, nothing to retry.
        return Task.FromResult<Uri?>(blob.GenerateSasUri(BlobSasPermissions.Read, _timeProvider.GetUtcNow() + validFor));
    }

    internal static BlobClientOptions CreateClientOptions(ImageStoreOptions settings)
    {
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.MaxRetries = settings.MaxRetries;
        clientOptions.Retry.Delay = settings.RetryDelay;
        clientOptions.Retry.MaxDelay = settings.MaxRetryDelay;
        clientOptions.Retry.NetworkTimeout = settings.NetworkTimeout;
        return clientOptions;
    }

    public Task<bool> TouchAsync(string key, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        var blob = _container.GetBlobClient(key);
        return RunAsync("touch", key, () => TouchBlobAsync(blob, at, cancellationToken), cancellationToken);
    }

    public Task<ReapOutcome> DeleteIfUntouchedAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        var blob = _container.GetBlobClient(key);
        return RunAsync("delete", key, async () =>
        {
            BlobProperties properties;
            try
            {
                properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                return ReapOutcome.Missing;
            }

            if (TouchedAt(properties) > cutoff)
            {
                return ReapOutcome.Kept;
            }

            try
            {
                // Only the version just looked at: a touch or save since changed the ETag, and the blob stays.
                await blob.DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots, new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken);
                return ReapOutcome.Deleted;
            }
            catch (RequestFailedException ex) when (ex.Status == 412)
            {
                // Changed since it was looked at, or deleted meanwhile (a condition on a missing blob fails the same way).
                return (await blob.ExistsAsync(cancellationToken)).Value ? ReapOutcome.Kept : ReapOutcome.Missing;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                return ReapOutcome.Missing;
            }
        }, cancellationToken);
    }

    public Task MarkAsync(RetentionMarkSet marks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(marks);
        var blob = _container.GetBlobClient(RetentionPrefix + marks.Name);
        var content = marks.IsGroup ? BinaryData.FromBytes(marks.Content()) : BinaryData.Empty;
        return RunAsync("mark", marks.Name, async () =>
        {
            await EnsureContainerAsync(cancellationToken);
            await blob.UploadAsync(content, overwrite: true, cancellationToken);
            return true;
        }, cancellationToken);
    }

    public async IAsyncEnumerable<RetentionMarkSet> ListMarksAsync(RetentionKind kind, DateTimeOffset cutoff, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Blobs are listed in name order, which is date order within a kind: the listing stops at the first mark after
        // the cutoff, so a sweep reads what is due (and one page more at most). A group is read when it is due.
        var prefix = RetentionPrefix + RetentionMark.FolderOf(kind) + "/";
        var blobs = _container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await blobs.MoveNextAsync();
                }
                catch (RequestFailedException ex) when (ex.Status == 404)
                {
                    yield break; // no container yet: nothing was ever marked
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransient(ex))
                {
                    Log.Unavailable(_logger, "list", prefix, ex);
                    throw new ImageStoreUnavailableException($"The image store could not list '{prefix}' in container '{_container.Name}' after retries: {ex.Message}", ex);
                }

                if (!more)
                {
                    yield break;
                }

                var fileName = blobs.Current.Name[prefix.Length..];
                var single = RetentionMarkSet.ParseName(kind, fileName, out var groupAt);
                if ((single?.At ?? groupAt) is not { } at)
                {
                    continue;
                }

                if (at > cutoff)
                {
                    yield break;
                }

                if (single is not null)
                {
                    yield return single;
                }
                else if (await ReadGroupAsync(kind, prefix, fileName, at, cancellationToken) is { } group)
                {
                    yield return group;
                }
            }
        }
        finally
        {
            await blobs.DisposeAsync();
        }
    }

    public Task RemoveMarksAsync(RetentionMarkSet marks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(marks);
        var blob = _container.GetBlobClient(RetentionPrefix + marks.Name);
        return RunAsync("unmark", marks.Name, async () => (await blob.DeleteIfExistsAsync(cancellationToken: cancellationToken)).Value, cancellationToken);
    }

    /// <summary>A group's marks; null when it was removed since the listing (by another sweep).</summary>
    private Task<RetentionMarkSet?> ReadGroupAsync(RetentionKind kind, string prefix, string fileName, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(prefix + fileName);
        return RunAsync("read marks", prefix + fileName, async () =>
        {
            try
            {
                var download = await blob.DownloadContentAsync(cancellationToken);
                return RetentionMarkSet.ReadGroup(kind, fileName, at, download.Value.Content.ToMemory().Span);
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                return null;
            }
        }, cancellationToken);
    }

    private Task UploadOnceAsync(string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(key);
        return RunAsync("save", key, async () =>
        {
            await EnsureContainerAsync(cancellationToken);
            for (var attempt = 1; ; attempt++)
            {
                var now = _timeProvider.GetUtcNow();
                var upload = new BlobUploadOptions
                {
                    HttpHeaders = new BlobHttpHeaders { ContentType = contentType, CacheControl = ImmutableCacheControl },
                    Metadata = TouchedMetadataOf(now),
                    Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                };
                try
                {
                    await blob.UploadAsync(new BinaryData(content), upload, cancellationToken);
                    return true;
                }
                catch (RequestFailedException ex) when (ex.ErrorCode == BlobErrorCode.BlobAlreadyExists || ex.Status == 412)
                {
                    // Already stored: the key is the content's hash, so it holds these bytes. This is also what a retry
                    // sees when the first try was stored but its response lost. Saving it again is a use: touch it,
                    // unless a sweep deleted it in between (then store it again).
                    if (await TouchBlobAsync(blob, now, cancellationToken) || attempt >= 3)
                    {
                        return true;
                    }
                }
            }
        }, cancellationToken);
    }

    private static async Task<bool> TouchBlobAsync(BlobClient blob, DateTimeOffset at, CancellationToken cancellationToken)
    {
        try
        {
            await blob.SetMetadataAsync(TouchedMetadataOf(at), cancellationToken: cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return false;
        }
    }

    private static Dictionary<string, string> TouchedMetadataOf(DateTimeOffset at) =>
        new() { [TouchedMetadata] = at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) };

    /// <summary>The touched metadata, or the last modification for a blob stored before it was kept.</summary>
    private static DateTimeOffset TouchedAt(BlobProperties properties) =>
        properties.Metadata.TryGetValue(TouchedMetadata, out var touched)
        && DateTimeOffset.TryParse(touched, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at
            : properties.LastModified;

    private Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        var creation = _containerCreation;
        if (creation is not { IsCompletedSuccessfully: true })
        {
            lock (_containerGate)
            {
                // Shared by concurrent callers, so it runs without any one caller's token; a failed try is redone.
                if (_containerCreation is null or { IsFaulted: true } or { IsCanceled: true })
                {
                    _containerCreation = CreateContainerAsync();
                }

                creation = _containerCreation;
            }
        }

        return creation.WaitAsync(cancellationToken);
    }

    private async Task CreateContainerAsync()
    {
        var created = await _container.CreateIfNotExistsAsync(cancellationToken: CancellationToken.None);
        if (created is not null)
        {
            Log.ContainerCreated(_logger, _container.Name);
        }
    }

    private async Task<T> RunAsync<T>(string operation, string key, Func<Task<T>> action, CancellationToken cancellationToken)
    {
        try
        {
            var result = await action();
            _health.Succeeded();
            return result;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransient(ex))
        {
            _health.Failed($"could not {operation} '{key}': {ex.Message}");
            Log.Unavailable(_logger, operation, key, ex);
            throw new ImageStoreUnavailableException(
                $"The image store could not {operation} '{key}' in container '{_container.Name}' after retries: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// What the client's retry policy gave up on: server errors, throttling, timeouts and transport failures
    /// (status 0). Other 4xx responses are programming or configuration errors and stay as they are.
    /// </summary>
    private static bool IsTransient(Exception exception) => exception switch
    {
        RequestFailedException { Status: 0 or 408 or 429 or >= 500 } => true,
        RequestFailedException => false,

        // The retry policy throws an AggregateException of every try's failure once it runs out of retries.
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(IsTransient),

        // A try that ran past NetworkTimeout (the caller's own cancellation is filtered out before).
        OperationCanceledException or TimeoutException => true,
        HttpRequestException or IOException or SocketException => true,
        _ => false,
    };
}
