using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// One consumer of one inference's event stream, straight from its owner: it subscribes an observer, applies only
/// events newer than the last (<see cref="EventOrder"/>), hands each to a callback, and lets a caller wait for the next
/// outcome. Dispose it to unsubscribe. The synchronous endpoints wait on it instead of polling the job.
/// </summary>
public sealed class InferenceWatch : IInferenceObserver, IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IResultCacheGrain _owner;
    private readonly Action<InferenceEvent>? _onEvent;
    private readonly EventOrder _order = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IInferenceObserver? _reference;

    private InferenceWatch(IGrainFactory grains, string requestKey, Action<InferenceEvent>? onEvent)
    {
        _grains = grains;
        _owner = grains.GetGrain<IResultCacheGrain>(requestKey);
        _onEvent = onEvent;
    }

    /// <summary>Subscribes to the inference <paramref name="requestKey"/> and applies its current state first.</summary>
    public static async Task<InferenceWatch> StartAsync(IGrainFactory grains, string requestKey, Action<InferenceEvent>? onEvent = null)
    {
        var watch = new InferenceWatch(grains, requestKey, onEvent);
        watch._reference = grains.CreateObjectReference<IInferenceObserver>(watch);
        try
        {
            var status = await watch._owner.Watch(watch._reference);
            await watch.OnInferenceEvent(status.Current);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }

        return watch;
    }

    /// <summary>
    /// Subscribes again (the owner forgets an observer after some minutes) and applies the inference's current state: an
    /// event that was lost on the way is caught up. For watches that last long (server-sent events).
    /// </summary>
    public async Task RenewAsync()
    {
        if (Volatile.Read(ref _reference) is { } reference)
        {
            var status = await _owner.Watch(reference);
            await OnInferenceEvent(status.Current);
        }
    }

    public Task OnInferenceEvent(InferenceEvent inferenceEvent)
    {
        if (_order.TryAdvance(inferenceEvent))
        {
            _onEvent?.Invoke(inferenceEvent);
            if (inferenceEvent.IsOutcome || inferenceEvent.Kind == InferenceEventKind.Left)
            {
                Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Completes at the next outcome or departure event after this call. Take it before reading the job, so that an event
    /// in between is not missed (events are one-way messages and can also be lost: wait with a timeout).
    /// </summary>
    public Task NextChange => Volatile.Read(ref _changed).Task;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _reference, null) is not { } reference)
        {
            return;
        }

        try
        {
            await _owner.Unwatch(reference);
        }
        catch (Exception)
        {
            // The owner forgets an observer that is not renewed anyway.
        }

        _grains.DeleteObjectReference<IInferenceObserver>(reference);
    }
}
