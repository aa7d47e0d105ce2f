using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// Feeds <see cref="GenerationHub"/> straight from the inferences' event streams: a step travels worker -> owner ->
/// this relay -> the SignalR group <c>job:{id}</c>. Per job with at least one connection it holds ONE observer (a
/// single object reference subscribed to the job's inference owner, however many browsers watch), applies only events
/// newer than the last (<see cref="EventOrder"/>), renews the subscription before the owner's observer expiry, and
/// lets go when the job ends or its last connection leaves. Everything that touches one job's feed runs under that
/// feed's gate, so a new subscriber's current state and the events that follow it reach the client in order.
/// </summary>
public sealed partial class JobEventRelay : IAsyncDisposable
{
    /// <summary>Well inside the owner's 10-minute observer expiry.</summary>
    public static readonly TimeSpan ResubscribeInterval = TimeSpan.FromMinutes(4);

    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, JobFeed> _feeds = [];
    private readonly IGrainFactory _grains;
    private readonly IHubContext<GenerationHub> _hub;
    private readonly ILogger<JobEventRelay> _logger;
    private readonly ITimer _timer;
    private int _renewing;

    public JobEventRelay(IGrainFactory grains, IHubContext<GenerationHub> hub, TimeProvider time, ILogger<JobEventRelay> logger)
    {
        _grains = grains;
        _hub = hub;
        _logger = logger;
        _timer = time.CreateTimer(_ => _ = RenewAllAsync(), null, ResubscribeInterval, ResubscribeInterval);
    }

    /// <summary>How many jobs the relay observes now (for tests and diagnostics).</summary>
    public int ObservedJobs
    {
        get
        {
            lock (_lock)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>Hands an event to a job's feed as its observer would (tests: events out of order, stale ones).</summary>
    internal Task DeliverAsync(Guid id, InferenceEvent inferenceEvent)
    {
        JobFeed? feed;
        lock (_lock)
        {
            _feeds.TryGetValue(id, out feed);
        }

        return feed is null ? Task.CompletedTask : OnEventAsync(feed, inferenceEvent);
    }

    public static string GroupOf(Guid id) => $"job:{id}";

    /// <summary>
    /// Adds the connection to the job's group after sending it the job's current state. Returns the grain's snapshot;
    /// <see cref="JobStatus.None"/> means there is no such job, or none that <paramref name="visible"/> lets the caller see,
    /// and nothing was subscribed.
    /// </summary>
    public async Task<JobSnapshot> SubscribeAsync(string connectionId, string baseUrl, Guid id, Func<JobSnapshot, bool> visible)
    {
        while (true)
        {
            var feed = FeedFor(id);
            await feed.Gate.WaitAsync();
            try
            {
                if (feed.Closed)
                {
                    continue;
                }

                var snapshot = await Job(id).GetSnapshot();
                if (!visible(snapshot))
                {
                    if (feed.Connections.Count == 0)
                    {
                        await CloseAsync(feed);
                    }

                    return snapshot with { Status = JobStatus.None };
                }

                // What the job and its inference know beyond the feed goes to those already watching; then the newcomer
                // gets the merged state, and joins the group only after, so that nothing reaches it out of order.
                feed.Job = snapshot;
                if (snapshot.IsTerminal)
                {
                    if (feed.Stage != Stage.Finished)
                    {
                        await FinishAsync(feed, snapshot);
                    }
                }
                else if (feed.Reference is null)
                {
                    feed.Reference = _grains.CreateObjectReference<IInferenceObserver>(feed.Observer);
                    var inference = await Owner(feed).Watch(feed.Reference);
                    await ApplyAsync(feed, inference.Current);
                }

                await SendCurrentAsync(feed, connectionId, baseUrl);
                feed.Connections[connectionId] = baseUrl;
                await _hub.Groups.AddToGroupAsync(connectionId, GroupOf(id));
                if (feed.Stage == Stage.Finished)
                {
                    await CloseAsync(feed);
                }

                return snapshot;
            }
            catch when (feed.Connections.Count == 0 && !feed.Closed)
            {
                await CloseAsync(feed);
                throw;
            }
            finally
            {
                feed.Gate.Release();
            }
        }
    }

    public async Task UnsubscribeAsync(string connectionId, Guid id)
    {
        await _hub.Groups.RemoveFromGroupAsync(connectionId, GroupOf(id));
        JobFeed? feed;
        lock (_lock)
        {
            _feeds.TryGetValue(id, out feed);
        }

        if (feed is not null)
        {
            await LeaveAsync(feed, connectionId);
        }
    }

    /// <summary>A closed connection leaves every feed it watched (SignalR drops its group memberships itself).</summary>
    public async Task DisconnectAsync(string connectionId)
    {
        List<JobFeed> feeds;
        lock (_lock)
        {
            feeds = [.. _feeds.Values];
        }

        foreach (var feed in feeds)
        {
            await LeaveAsync(feed, connectionId);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _timer.DisposeAsync();
        List<JobFeed> feeds;
        lock (_lock)
        {
            feeds = [.. _feeds.Values];
            _feeds.Clear();
        }

        // No grain calls here: the cluster may be stopping with the host. Grain-side, the observers simply expire.
        foreach (var feed in feeds.Where(f => f.Reference is not null))
        {
            feed.Closed = true;
            _grains.DeleteObjectReference<IInferenceObserver>(feed.Reference!);
        }
    }

    private IGenerationJobGrain Job(Guid id) => _grains.GetGrain<IGenerationJobGrain>(id);

    private IResultCacheGrain Owner(JobFeed feed) => _grains.GetGrain<IResultCacheGrain>(feed.Job!.RequestKey!);

    private JobFeed FeedFor(Guid id)
    {
        lock (_lock)
        {
            if (!_feeds.TryGetValue(id, out var feed))
            {
                feed = new JobFeed(id);
                feed.Observer = new FeedObserver(this, feed);
                _feeds[id] = feed;
            }

            return feed;
        }
    }

    private async Task LeaveAsync(JobFeed feed, string connectionId)
    {
        await feed.Gate.WaitAsync();
        try
        {
            if (!feed.Closed && feed.Connections.Remove(connectionId) && feed.Connections.Count == 0)
            {
                await CloseAsync(feed);
            }
        }
        finally
        {
            feed.Gate.Release();
        }
    }

    private async Task OnEventAsync(JobFeed feed, InferenceEvent inferenceEvent)
    {
        await feed.Gate.WaitAsync();
        try
        {
            if (feed.Closed)
            {
                return;
            }

            await ApplyAsync(feed, inferenceEvent);
            if (feed.Stage == Stage.Finished)
            {
                await CloseAsync(feed);
            }
        }
        catch (Exception e)
        {
            LogForwardFailed(feed.Id, inferenceEvent.Kind, e);
        }
        finally
        {
            feed.Gate.Release();
        }
    }

    /// <summary>Re-subscribes every feed's observer (renewing its expiry) and catches up on anything missed.</summary>
    private async Task RenewAllAsync()
    {
        if (Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return;
        }

        try
        {
            List<JobFeed> feeds;
            lock (_lock)
            {
                feeds = [.. _feeds.Values];
            }

            foreach (var feed in feeds)
            {
                await feed.Gate.WaitAsync();
                try
                {
                    if (feed.Closed || feed.Reference is null)
                    {
                        continue;
                    }

                    var inference = await Owner(feed).Watch(feed.Reference);
                    await ApplyAsync(feed, inference.Current);

                    if (feed.Stage == Stage.Finished)
                    {
                        await CloseAsync(feed);
                    }
                }
                catch (Exception e)
                {
                    LogRenewFailed(feed.Id, e);
                }
                finally
                {
                    feed.Gate.Release();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    /// <summary>
    /// Under the feed's gate: forwards an event of the job's inference when it is newer than the last one applied (the
    /// one ordering rule, <see cref="EventOrder"/>); a job's end is final.
    /// </summary>
    private async Task ApplyAsync(JobFeed feed, InferenceEvent inferenceEvent)
    {
        if (feed.Stage == Stage.Finished || !feed.Order.TryAdvance(inferenceEvent))
        {
            return;
        }

        var group = _hub.Clients.Group(GroupOf(feed.Id));
        var steps = inferenceEvent.TotalSteps > 0 ? inferenceEvent.TotalSteps : StepsOf(feed.Job!);
        switch (inferenceEvent.Kind)
        {
            case InferenceEventKind.Queued:
                feed.Stage = Stage.Queued;
                feed.Position = inferenceEvent.QueuePosition;
                feed.Step = 0;
                await group.SendAsync(LiveEventNames.Queued, new QueuedEvent(feed.Id, inferenceEvent.QueuePosition));
                return;

            case InferenceEventKind.Started:
            case InferenceEventKind.Progress:
                if (feed.Stage != Stage.Running)
                {
                    // A watcher that arrives mid-run, or a start that was lost: announce the start first.
                    feed.Stage = Stage.Running;
                    feed.Steps = steps;
                    await group.SendAsync(LiveEventNames.Started, new StartedEvent(feed.Id, steps));
                }

                if (inferenceEvent.Kind == InferenceEventKind.Progress)
                {
                    feed.Step = inferenceEvent.Step;
                    feed.Steps = steps;
                    feed.Eta = inferenceEvent.EtaSeconds;
                    feed.Preview = inferenceEvent.Preview is { } preview ? DataUrlOf(preview) : feed.Preview;
                    await group.SendAsync(LiveEventNames.Progress, new ProgressEvent(feed.Id, feed.Step, steps, feed.Eta, inferenceEvent.Preview is null ? null : feed.Preview));
                }

                return;

            case InferenceEventKind.Completed:
                await FinishAsync(feed, feed.Job! with { Status = JobStatus.Succeeded, Images = inferenceEvent.Images, CompletedAt = inferenceEvent.CompletedAt });
                return;

            case InferenceEventKind.Failed:
                await FinishAsync(feed, feed.Job! with { Status = JobStatus.Failed, Error = inferenceEvent.Error });
                return;

            case InferenceEventKind.Left when inferenceEvent.Job == feed.Id:
                await FinishAsync(feed, feed.Job! with { Status = JobStatus.Cancelled });
                return;
        }
    }

    /// <summary>Under the feed's gate: the job's end, to each connection with image URLs of its own base.</summary>
    private async Task FinishAsync(JobFeed feed, JobSnapshot final)
    {
        feed.Stage = Stage.Finished;
        feed.Job = final;
        foreach (var byBase in feed.Connections.GroupBy(c => c.Value, StringComparer.Ordinal))
        {
            var (name, payload) = FinishedEventOf(final, byBase.Key);
            await _hub.Clients.Clients([.. byBase.Select(c => c.Key)]).SendAsync(name, payload);
        }
    }

    /// <summary>Under the feed's gate: the feed's state as the events a client that just arrived needs.</summary>
    private async Task SendCurrentAsync(JobFeed feed, string connectionId, string baseUrl)
    {
        var client = _hub.Clients.Client(connectionId);
        switch (feed.Stage)
        {
            case Stage.Queued:
                await client.SendAsync(LiveEventNames.Queued, new QueuedEvent(feed.Id, feed.Position));
                break;
            case Stage.Running:
                await client.SendAsync(LiveEventNames.Started, new StartedEvent(feed.Id, feed.Steps));
                if (feed.Step > 0)
                {
                    await client.SendAsync(LiveEventNames.Progress, new ProgressEvent(feed.Id, feed.Step, feed.Steps, feed.Eta, feed.Preview));
                }

                break;
            case Stage.Finished:
                var (name, payload) = FinishedEventOf(feed.Job!, baseUrl);
                await client.SendAsync(name, payload);
                break;
        }
    }

    private async Task CloseAsync(JobFeed feed)
    {
        feed.Closed = true;
        lock (_lock)
        {
            if (_feeds.TryGetValue(feed.Id, out var current) && current == feed)
            {
                _feeds.Remove(feed.Id);
            }
        }

        if (feed.Reference is { } reference)
        {
            try
            {
                await Owner(feed).Unwatch(reference);
            }
            catch (Exception e)
            {
                // The owner forgets an observer that is not renewed anyway.
                LogUnsubscribeFailed(feed.Id, e);
            }

            _grains.DeleteObjectReference<IInferenceObserver>(reference);
        }
    }

    private static (string Name, object Payload) FinishedEventOf(JobSnapshot snapshot, string baseUrl) => snapshot.Status switch
    {
        JobStatus.Succeeded => (LiveEventNames.Completed, new CompletedEvent(snapshot.Id, snapshot.Cached, GenerationEndpoints.ImagesOf(snapshot, baseUrl))),
        JobStatus.Failed => (LiveEventNames.Failed, new FailedEvent(snapshot.Id, snapshot.Error ?? "The generation failed.")),
        _ => (LiveEventNames.Cancelled, new CancelledEvent(snapshot.Id)),
    };

    /// <summary>Before the first step the grain does not know the step count yet; the spec's is the best guess.</summary>
    private static int StepsOf(JobSnapshot snapshot) => snapshot.TotalSteps > 0 ? snapshot.TotalSteps : snapshot.Spec?.StepsWithHires() ?? 0;

    private static string DataUrlOf(byte[] jpeg) => "data:image/jpeg;base64," + Convert.ToBase64String(jpeg);

    private enum Stage
    {
        None,
        Queued,
        Running,
        Finished,
    }

    private sealed class JobFeed(Guid id)
    {
        public Guid Id { get; } = id;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Connection id to the base URL of its requests (image URLs are absolute, per connection).</summary>
        public Dictionary<string, string> Connections { get; } = new(StringComparer.Ordinal);

        /// <summary>Held here: the object reference alone would not keep the observer alive.</summary>
        public IInferenceObserver Observer { get; set; } = null!;

        public IInferenceObserver? Reference { get; set; }

        public bool Closed { get; set; }

        public Stage Stage { get; set; }

        /// <summary>The job as last read (its request key, spec, id), and its end once it ended.</summary>
        public JobSnapshot? Job { get; set; }

        public EventOrder Order { get; } = new();

        public int? Position { get; set; }

        public int Step { get; set; }

        public int Steps { get; set; }

        public double? Eta { get; set; }

        public string? Preview { get; set; }
    }

    private sealed class FeedObserver(JobEventRelay relay, JobFeed feed) : IInferenceObserver
    {
        public Task OnInferenceEvent(InferenceEvent inferenceEvent) => relay.OnEventAsync(feed, inferenceEvent);
    }
}
