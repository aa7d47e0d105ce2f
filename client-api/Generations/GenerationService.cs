using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// What every API surface does with the cluster: accept a job (storing an init image first, within the per-key
/// quota), read it, cancel it, wait for it, and read its images.
/// </summary>
public sealed class GenerationService(IGrainFactory grains, IImageStore images, IOptions<ApiOptions> options, IOptions<ImageStoreOptions> imageStore)
{
    public static readonly ImageLimits UploadLimits = new() { MaxBytes = 12 << 20, MaxPixels = 4096 * 4096, MaxSide = 4096 };

    public IGenerationJobGrain Job(Guid id) => grains.GetGrain<IGenerationJobGrain>(id);

    /// <summary>
    /// Submits a job. Throws <see cref="ArgumentException"/> (bad request), <see cref="InvalidImageException"/>,
    /// <see cref="QuotaExceededException"/> and <see cref="QueueFullException"/>, none of which leaves state behind, or a
    /// transient fault of the cluster or storage (<see cref="ApiFaults.IsTransient"/>).
    /// </summary>
    public async Task<JobSnapshot> SubmitAsync(Guid id, CreateGenerationRequest request, string apiKey, CancellationToken cancellationToken)
    {
        // The quota counts the key's unfinished jobs cluster-wide, however many API processes accept them.
        var quota = grains.GetGrain<IKeyQuotaGrain>(apiKey);
        var max = options.Value.MaxConcurrentJobsPerKey;
        if (!await quota.TryAcquire(id, max))
        {
            throw new QuotaExceededException($"API key '{apiKey}' already has {max} jobs queued or running, its limit.");
        }

        JobSnapshot snapshot;
        try
        {
            string? initKey = null;
            if (!string.IsNullOrEmpty(request.InitImage))
            {
                var bytes = GenerationRequestValidator.DecodeInitImage(request.InitImage, UploadLimits);
                initKey = await images.SaveInputAsync(bytes, cancellationToken);
            }

            snapshot = await Job(id).Submit(GenerationRequestValidator.ToSpec(request, initKey), apiKey);
        }
        catch (Exception e)
        {
            if (ApiFaults.IsTransient(e))
            {
                // A transient fault (a time-out above all) leaves the outcome unknown: the job may still be accepted once
                // its grain is reachable. Cancelling it (after Submit, if Submit gets through) keeps a job the client was
                // told failed from running; a job that was not accepted has nothing to cancel.
                Job(id).Cancel().Ignore();
            }

            await ReleaseAsync(quota, id);
            throw;
        }

        if (snapshot.IsTerminal)
        {
            await ReleaseAsync(quota, id); // a cache hit takes no place
        }

        return snapshot;
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

    private static async Task ReleaseAsync(IKeyQuotaGrain quota, Guid id)
    {
        try
        {
            await quota.Release(id);
        }
        catch (Exception)
        {
            // The place frees itself: the quota re-checks its jobs before refusing.
        }
    }
}

/// <summary>The caller has as many jobs queued or running as its quota allows.</summary>
public sealed class QuotaExceededException(string message) : Exception(message);
