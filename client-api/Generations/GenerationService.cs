using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Api.Security;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// What every API surface does with the cluster: accept a job (the cluster checks the model, the queue and the key's
/// quota; an init image and a mask are normalised first and stored only once the job is accepted), read it, cancel it,
/// wait for it, and read its images.
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

    /// <summary>The id of the job that <paramref name="apiKey"/> names <paramref name="clientId"/> (<see cref="ClientJobId"/>).</summary>
    public ValueTask<Guid> ClientJobIdAsync(string apiKey, string clientId) => jobIds.ForClientAsync(apiKey, clientId);

    /// <summary>
    /// The job an address names for <paramref name="apiKey"/>: a UUID is a job id, which this cluster must have made; any
    /// other valid name is the key's own name for a job (<see cref="ClientJobId"/>); null for an id no API process made
    /// or an invalid name, answered as unknown without a grain call.
    /// </summary>
    public async ValueTask<Guid?> ResolveAsync(string id, string apiKey)
    {
        if (Guid.TryParse(id, out var guid))
        {
            return await IsGenuineAsync(guid) ? guid : null;
        }

        return ClientJobId.IsValid(id) ? await ClientJobIdAsync(apiKey, id) : null;
    }

    /// <summary>Starts watching an inference's events (see <see cref="InferenceWatch"/>); dispose the watch to stop.</summary>
    public Task<InferenceWatch> WatchAsync(string requestKey, Action<InferenceEvent> onEvent) => InferenceWatch.StartAsync(grains, requestKey, onEvent);

    /// <summary>A page of <paramref name="apiKey"/>'s job index, newest first (see <see cref="IJobListGrain"/>).</summary>
    public Task<JobIndexPage> ListAsync(string apiKey, string? after, int max) => grains.GetGrain<IJobListGrain>(apiKey).List(after, max);

    /// <summary>
    /// Submits a job, its mask read as the native API reads it. Throws <see cref="ArgumentException"/> (bad request),
    /// <see cref="InvalidImageException"/>, <see cref="InvalidMaskException"/>, <see cref="RequestOverQuotaException"/>,
    /// <see cref="QuotaExceededException"/>, <see cref="QueueFullException"/> and
    /// <see cref="ImageStoreUnavailableException"/>, none of which leaves state behind (an init image or mask included),
    /// or a transient fault of the cluster or storage (<see cref="ApiFaults.IsTransient"/>).
    /// </summary>
    public Task<JobSnapshot> SubmitAsync(Guid id, CreateGenerationRequest request, string apiKey, CancellationToken cancellationToken) =>
        SubmitCoreAsync(id, request, apiKey, InpaintOptions.Native(request.MaskBlur), webhook: null, named: false, cancellationToken);

    /// <summary>
    /// As <see cref="SubmitAsync(Guid, CreateGenerationRequest, string, CancellationToken)"/>, and the job's
    /// <paramref name="webhook"/> follows it from its acceptance on; if that cannot be set up (a transient fault) the job
    /// is cancelled, as when its acceptance is in doubt.
    /// </summary>
    public Task<JobSnapshot> SubmitAsync(Guid id, CreateGenerationRequest request, string apiKey, WebhookSubscription? webhook, CancellationToken cancellationToken) =>
        SubmitCoreAsync(id, request, apiKey, InpaintOptions.Native(request.MaskBlur), webhook, named: false, cancellationToken);

    /// <summary>
    /// As <see cref="SubmitAsync(Guid, CreateGenerationRequest, string, WebhookSubscription?, CancellationToken)"/> for a
    /// job the client named (<see cref="ClientJobId"/>), which it retries under the same name: a transient fault leaves
    /// the job to its fate, since the retry finds it (an unnamed job is cancelled then, since its client was told it failed).
    /// </summary>
    public Task<JobSnapshot> SubmitNamedAsync(Guid id, CreateGenerationRequest request, string apiKey, WebhookSubscription? webhook, CancellationToken cancellationToken) =>
        SubmitCoreAsync(id, request, apiKey, InpaintOptions.Native(request.MaskBlur), webhook, named: true, cancellationToken);

    /// <summary>As <see cref="SubmitAsync(Guid, CreateGenerationRequest, string, CancellationToken)"/>, the mask read and used as <paramref name="inpaint"/> says.</summary>
    public Task<JobSnapshot> SubmitAsync(Guid id, CreateGenerationRequest request, string apiKey, InpaintOptions inpaint, CancellationToken cancellationToken) =>
        SubmitCoreAsync(id, request, apiKey, inpaint, webhook: null, named: false, cancellationToken);

    private async Task<JobSnapshot> SubmitCoreAsync(
        Guid id, CreateGenerationRequest request, string apiKey, InpaintOptions inpaint, WebhookSubscription? webhook, bool named, CancellationToken cancellationToken)
    {
        request = await WithModelDefaultsAsync(request);
        var spec = GenerationRequestValidator.ToSpec(request, initImageKey: null);
        byte[]? input = null;
        byte[]? mask = null;
        if (!string.IsNullOrEmpty(request.InitImage))
        {
            // Decoded once, here: the worker reads these pixels as they are. The key is their content's, so the job
            // can name the image before it is stored.
            var upload = InitImageLoader.DecodeBase64(request.InitImage, UploadLimits);
            input = InitImageLoader.Normalize(upload, spec.Width, spec.Height, UploadLimits);
            spec = spec with { InitImageKey = ImageKeys.ForInput(input) };

            // The mask likewise: decoded, fitted and blurred once, and named by its normalised content.
            mask = NormalizeMask(request, upload, spec, inpaint);
            if (mask is not null)
            {
                spec = spec with
                {
                    MaskKey = ImageKeys.ForInput(mask),
                    InpaintFill = InpaintFills.Name(inpaint.Fill),
                    InpaintOnlyMasked = inpaint.OnlyMasked,
                    InpaintPadding = inpaint.Padding,
                    Strength = inpaint.StrengthWithMask ?? spec.Strength,
                };
            }
        }

        cancellationToken.ThrowIfCancellationRequested();

        // The quota counts units cluster-wide, however many API processes accept work for the key; the inference's
        // owner charges it only when this job starts new work.
        JobSnapshot snapshot;
        try
        {
            snapshot = await Job(id).Submit(spec, apiKey, MaxUnitsFor(apiKey));
            if (webhook is not null)
            {
                await grains.GetGrain<IWebhookGrain>(id).Follow(webhook);
            }
        }
        catch (Exception e) when (ApiFaults.IsTransient(e) && !named)
        {
            // A transient fault (a time-out above all) leaves the outcome unknown: the job may still be accepted once
            // its grain is reachable. Cancelling it (after Submit, if Submit gets through) keeps a job the client was
            // told failed from running; a job that was not accepted has nothing to cancel.
            Job(id).Cancel().Ignore();
            throw;
        }

        if (input is not null && !snapshot.IsTerminal)
        {
            await StoreInputsAsync(id, mask is null ? [input] : [input, mask]);
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
    /// <paramref name="onEvent"/> sees every event of the inference in order (live previews). The job is accepted, so a
    /// transient fault (its grain's silo died, storage blinked) is waited out rather than failing the request.
    /// </summary>
    public async Task<JobSnapshot> WaitAsync(Guid id, CancellationToken cancellationToken, Action<InferenceEvent>? onEvent = null)
    {
        InferenceWatch? watch = null;
        try
        {
            while (true)
            {
                var change = watch?.NextChange;
                JobSnapshot snapshot;
                try
                {
                    snapshot = await Job(id).GetSnapshot();
                }
                catch (Exception e) when (ApiFaults.IsTransient(e) && !cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(TransientRecheck, cancellationToken);
                    continue;
                }

                if (snapshot.IsTerminal || snapshot.RequestKey is not { } key)
                {
                    return snapshot;
                }

                if (watch is null)
                {
                    try
                    {
                        watch = await InferenceWatch.StartAsync(grains, key, onEvent);
                        continue; // read the job again: an outcome may have come before the watch
                    }
                    catch (Exception e) when (ApiFaults.IsTransient(e) && !cancellationToken.IsCancellationRequested)
                    {
                        // The inference's owner is unreachable for now: poll until it is back.
                    }
                }

                if (watch is null)
                {
                    await Task.Delay(TransientRecheck, cancellationToken);
                }
                else
                {
                    await Task.WhenAny(change ?? watch.NextChange, Task.Delay(WaitRecheck, cancellationToken));
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }
        finally
        {
            if (watch is not null)
            {
                await watch.DisposeAsync();
            }
        }
    }

    /// <summary>How often a waiting request reads its job again when no event comes.</summary>
    public static readonly TimeSpan WaitRecheck = TimeSpan.FromSeconds(5);

    /// <summary>How soon a waiting request tries again after a transient fault.</summary>
    public static readonly TimeSpan TransientRecheck = TimeSpan.FromSeconds(1);

    public async Task<byte[]?> ReadImageAsync(ImageRef image, CancellationToken cancellationToken) =>
        await images.ReadAsync(image.Key, cancellationToken);

    /// <summary>A time-limited URL straight to storage, or null when the API must stream the image itself.</summary>
    public Task<Uri?> DirectUrlAsync(ImageRef image, CancellationToken cancellationToken) =>
        images.GetReadUrlAsync(image.Key, imageStore.Value.ReadUrlLifetime, cancellationToken);

    /// <summary>
    /// The request's mask, decoded once and normalised (converted, fitted to the generation, blurred) for storage, or
    /// null when it has none. Without one, with <see cref="InpaintOptions.ImageAlphaIsMask"/>, an init image with
    /// transparent pixels is its own mask.
    /// </summary>
    private static byte[]? NormalizeMask(CreateGenerationRequest request, byte[] initImage, GenerationSpec spec, InpaintOptions inpaint)
    {
        if (string.IsNullOrEmpty(request.Mask))
        {
            if (!inpaint.ImageAlphaIsMask)
            {
                return null;
            }

            try
            {
                return MaskLoader.Normalize(initImage, imageSize: null, spec.Width, spec.Height, inpaint.Mask with { Convention = MaskConvention.TransparentRepaints }, UploadLimits);
            }
            catch (InvalidImageException e) when (e.Reason == InvalidImageReason.EmptyMask)
            {
                return null; // an opaque image: edited as a whole
            }
        }

        var imageSize = MaskLoader.SizeOf(initImage, UploadLimits);
        try
        {
            var bytes = InitImageLoader.DecodeBase64(request.Mask, UploadLimits);
            return MaskLoader.Normalize(bytes, imageSize, spec.Width, spec.Height, inpaint.Mask, UploadLimits);
        }
        catch (InvalidImageException e)
        {
            throw new InvalidMaskException(e);
        }
    }

    /// <summary>
    /// Stores an accepted job's init image and mask (a cache hit needs neither). Not cancelled with the request: the job
    /// is accepted and its worker waits for them. If storage fails the job is cancelled, so nothing waits for them.
    /// </summary>
    private async Task StoreInputsAsync(Guid id, byte[][] inputs)
    {
        try
        {
            await Task.WhenAll(inputs.Select(input => images.SaveInputAsync(input, CancellationToken.None)));
        }
        catch (Exception)
        {
            try
            {
                await Job(id).Cancel();
            }
            catch (Exception)
            {
                // Its worker gives up waiting for the inputs and fails the job.
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
