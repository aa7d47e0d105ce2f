using System.Net.Sockets;
using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Images as blobs in one container of an Azure Storage account (or Azurite), shared by every silo. Blob names are the
/// content-addressed keys, uploads are conditional (<c>If-None-Match: *</c>) so saving the same bytes twice writes once,
/// and read URLs are SAS URLs signed with the account key. The client retries transient faults with exponential
/// back-off (<see cref="ImageStoreOptions.MaxRetries"/> and the delays beside it); what still fails surfaces as
/// <see cref="ImageStoreUnavailableException"/>.
/// </summary>
public sealed partial class AzureBlobImageStore : IImageStore
{
    private const string PngContentType = "image/png";
    private const string InputContentType = "application/octet-stream";

    // A key names its content for ever, so a browser or CDN may keep it for ever.
    private const string ImmutableCacheControl = "public, max-age=31536000, immutable";

    private readonly BlobContainerClient _container;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Lock _containerGate = new();
    private Task? _containerCreation;

    public AzureBlobImageStore(IOptions<ImageStoreOptions> options, TimeProvider timeProvider, ILogger<AzureBlobImageStore> logger)
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
    }

    /// <summary>The container's URI (without credentials).</summary>
    public Uri ContainerUri => _container.Uri;

    public async Task<ImageRef> SaveImageAsync(byte[] png, long seed, int width, int height, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(png);
        var key = ImageKeys.ForImage(png);
        await UploadOnceAsync(key, png, PngContentType, cancellationToken);
        return new ImageRef(key, seed, width, height, png.LongLength);
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

    private Task UploadOnceAsync(string key, byte[] content, string contentType, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(key);
        var upload = new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = contentType, CacheControl = ImmutableCacheControl },
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
        };
        return RunAsync("save", key, async () =>
        {
            await EnsureContainerAsync(cancellationToken);
            try
            {
                await blob.UploadAsync(new BinaryData(content), upload, cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.ErrorCode == BlobErrorCode.BlobAlreadyExists || ex.Status == 412)
            {
                // Already stored: the key is the content's hash, so it holds these bytes. This is also what a retry
                // sees when the first try was stored but its response lost.
            }

            return true;
        }, cancellationToken);
    }

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
            return await action();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransient(ex))
        {
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
