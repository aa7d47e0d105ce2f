using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Api.Security;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// What every API surface does with the cluster: accept a job (the cluster checks the model, the queue and the key's
/// quota; an init image is normalised first and stored only once the job is accepted), read it, cancel it, wait for
/// it, and read its images.
/// </summary>
public sealed class GenerationService(IGrainFactory grains, JobIds jobIds, IImageStore images, IOptions<ApiOptions> options, IOptions<ImageStoreOptions> imageStore)
{
    public static readonly ImageLimits UploadLimits = new() { MaxBytes = 12 << 20, MaxPixels = 4096 * 4096, MaxSide = 4096 };

    /// <summary>The job's grain. Call it only with an id that <see cref="IsGenuineAsync"/> accepted or this API made.</summary>
    public IGenerationJobGrain Job(Guid id) => grains.GetGrain<IGenerationJobGrain>(id);

    /// <summary>A new job id, signed so that the API can recognise it later (<see cref="JobIds"/>).</summary>
    public ValueTask<Guid> NewIdAsync() => jobIds.NewAsync();

    /// <summary>
    /// Whether an API process of this cluster made the id. Every surface asks this before it calls a job grain with an
    /// id a client gave, and answers a made-up id as an unknown one, so guessing activates no grain.
    /// </summary>
    public ValueTask<bool> IsGenuineAsync(Guid id) => jobIds.IsGenuineAsync(id);

    /// <summary>
    /// Submits a job. Throws <see cref="ArgumentException"/> (bad request), <see cref="InvalidImageException"/>,
    /// <see cref="RequestOverQuotaException"/>, <see cref="QuotaExceededException"/> and <see cref="QueueFullException"/>;
    /// none of them leaves state behind, an init image included.
    /// </summary>
    public async Task<JobSnapshot> SubmitAsync(Guid id, CreateGenerationRequest request, string apiKey, CancellationToken cancellationToken)
    {
        request = await WithModelDefaultsAsync(request);
        var spec = GenerationRequestValidator.ToSpec(request, initImageKey: null);
        byte[]? input = null;
        if (!string.IsNullOrEmpty(request.InitImage))
        {
            // Decoded once, here: the worker reads these pixels as they are. The key is their content's, so the job
            // can name the image before it is stored.
            input = GenerationRequestValidator.NormalizeInitImage(request.InitImage, spec.Width, spec.Height, UploadLimits);
            spec = spec with { InitImageKey = ImageKeys.ForInput(input) };
        }

        cancellationToken.ThrowIfCancellationRequested();

        // The quota counts units cluster-wide, however many API processes accept work for the key; the inference's
        // owner charges it only when this job starts new work.
        var snapshot = await Job(id).Submit(spec, apiKey, MaxUnitsFor(apiKey));
        if (input is not null && !snapshot.IsTerminal)
        {
            await StoreInputAsync(id, input);
        }

        return snapshot;
    }

    /// <summary>
    /// The request with the model's own size, steps and guidance where it gives none (<c>GET /v1/models</c> shows them):
    /// 1024 x 1024 for SDXL, guidance 0 and 4 steps for SDXL-Turbo. Any silo answers from its catalog.
    /// </summary>
    /// <exception cref="ArgumentException">The request names a model the cluster does not serve.</exception>
    public async Task<CreateGenerationRequest> WithModelDefaultsAsync(CreateGenerationRequest request)
    {
        if (request is { Width: not null, Height: not null, Steps: not null, GuidanceScale: not null })
        {
            return request;
        }

        var models = await grains.GetGrain<IModelInfoGrain>(0).GetModels();
        var model = string.IsNullOrEmpty(request.Model)
            ? models.FirstOrDefault(m => m.IsDefault)
            : models.FirstOrDefault(m => m.Id == request.Model)
                ?? throw new ArgumentException($"Unknown model '{request.Model}'. Known models: {string.Join(", ", models.Select(m => m.Id))}.", nameof(request));
        return model is null ? request : request with
        {
            Width = request.Width ?? model.Defaults.Width,
            Height = request.Height ?? model.Defaults.Height,
            Steps = request.Steps ?? model.Defaults.Steps,
            GuidanceScale = request.GuidanceScale ?? model.Defaults.GuidanceScale,
        };
    }

    /// <summary>
    /// Waits until a job finishes (the synchronous OpenAI and AUTOMATIC1111 endpoints): it watches the job's inference
    /// and reads the job again when an event arrives, or every <see cref="WaitRecheck"/> in case one was lost.
    /// <paramref name="onEvent"/> sees every event of the inference in order (live previews).
    /// </summary>
    public async Task<JobSnapshot> WaitAsync(Guid id, CancellationToken cancellationToken, Action<InferenceEvent>? onEvent = null)
    {
        var snapshot = await Job(id).GetSnapshot();
        if (snapshot.IsTerminal || snapshot.RequestKey is not { } key)
        {
            return snapshot;
        }

        await using var watch = await InferenceWatch.StartAsync(grains, key, onEvent);
        while (true)
        {
            var change = watch.NextChange;
            snapshot = await Job(id).GetSnapshot();
            if (snapshot.IsTerminal)
            {
                return snapshot;
            }

            await Task.WhenAny(change, Task.Delay(WaitRecheck, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>How often a waiting request reads its job again when no event comes.</summary>
    public static readonly TimeSpan WaitRecheck = TimeSpan.FromSeconds(5);

    public async Task<byte[]?> ReadImageAsync(ImageRef image, CancellationToken cancellationToken) =>
        await images.ReadAsync(image.Key, cancellationToken);

    /// <summary>A time-limited URL straight to storage, or null when the API must stream the image itself.</summary>
    public Task<Uri?> DirectUrlAsync(ImageRef image, CancellationToken cancellationToken) =>
        images.GetReadUrlAsync(image.Key, imageStore.Value.ReadUrlLifetime, cancellationToken);

    /// <summary>
    /// Stores an accepted job's init image (a cache hit needs none). Not cancelled with the request: the job is accepted
    /// and its worker waits for the image. If storage fails the job is cancelled, so nothing waits for it.
    /// </summary>
    private async Task StoreInputAsync(Guid id, byte[] input)
    {
        try
        {
            await images.SaveInputAsync(input, CancellationToken.None);
        }
        catch (Exception)
        {
            try
            {
                await Job(id).Cancel();
            }
            catch (Exception)
            {
                // Its worker gives up waiting for the image and fails the job.
            }

            throw;
        }
    }

    /// <summary>The concurrency quota of <paramref name="apiKey"/>, in units: with no key configured, the one local user's.</summary>
    private int MaxUnitsFor(string apiKey) =>
        options.Value.Keys.Count == 0 && apiKey == ApiKeyAuthenticationHandler.Anonymous
            ? options.Value.MaxConcurrentUnitsAnonymous
            : options.Value.MaxConcurrentUnitsPerKey;
}
