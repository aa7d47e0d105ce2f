using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// Feeds <see cref="GenerationHub"/> from the job grains. Per job with at least one connection it holds ONE observer
/// (a single object reference subscribed to the job grain, however many browsers watch), orders what arrives (grain
/// notifications are one-way and can overtake each other), forwards it to the SignalR group <c>job:{id}</c>, renews the
/// subscription before the grain's observer expiry, and lets go when the job ends or its last connection leaves.
/// Everything that touches one job's feed runs under that feed's gate, so a new subscriber's current state and the
/// events that follow it reach the client in order.
/// </summary>
public sealed partial class JobEventRelay : IAsyncDisposable
{
    /// <summary>Well inside the job grain's 10-minute observer expiry.</summary>
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
    internal Task DeliverAsync(Guid id, JobEvent jobEvent)
    {
        JobFeed? feed;
        lock (_lock)
        {
            _feeds.TryGetValue(id, out feed);
        }

        return feed is null ? Task.CompletedTask : OnEventAsync(feed, jobEvent);
    }

    public static string GroupOf(Guid id) => $"job:{id}";

    /// <summary>
    /// Adds the connection to the job's group after sending it the job's current state. Returns the grain's snapshot;
    /// <see cref="JobStatus.None"/> means there is no such job, and nothing was subscribed.
    /// </summary>
    public async Task<JobSnapshot> SubscribeAsync(string connectionId, string baseUrl, Guid id)
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

                JobSnapshot snapshot;
                if (feed.Reference is null)
                {
                    feed.Reference = _grains.CreateObjectReference<IJobObserver>(feed.Observer);
                    snapshot = await Job(id).Subscribe(feed.Reference);
                }
                else
                {
                    snapshot = await Job(id).GetSnapshot();
                }

                if (snapshot.Status == JobStatus.None)
                {
                    if (feed.Connections.Count == 0)
                    {
                        await CloseAsync(feed);
                    }

                    return snapshot;
                }

                // What the snapshot knows beyond the feed goes to those already watching; then the newcomer gets the
                // merged state, and joins the group only after, so that nothing reaches it out of order.
                await ApplyAsync(feed, EventOf(snapshot));
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
            _grains.DeleteObjectReference<IJobObserver>(feed.Reference!);
        }
    }

    private IGenerationJobGrain Job(Guid id) => _grains.GetGrain<IGenerationJobGrain>(id);

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

    private async Task OnEventAsync(JobFeed feed, JobEvent jobEvent)
    {
        await feed.Gate.WaitAsync();
        try
        {
            if (feed.Closed)
            {
                return;
            }

            await ApplyAsync(feed, jobEvent);
            if (feed.Stage == Stage.Finished)
            {
                await CloseAsync(feed);
            }
        }
        catch (Exception e)
        {
            LogForwardFailed(feed.Id, jobEvent.Kind, e);
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

                    var snapshot = await Job(feed.Id).Subscribe(feed.Reference);
                    if (snapshot.Status != JobStatus.None)
                    {
                        await ApplyAsync(feed, EventOf(snapshot));
                    }

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

    /// <summary>Under the feed's gate: forwards what is new about the job and drops what is stale.</summary>
    private async Task ApplyAsync(JobFeed feed, JobEvent jobEvent)
    {
        if (feed.Stage == Stage.Finished)
        {
            return;
        }

        var snapshot = jobEvent.Snapshot;
        var group = _hub.Clients.Group(GroupOf(feed.Id));
        switch (jobEvent.Kind)
        {
            case JobEventKind.Queued:
                if (feed.Stage > Stage.Queued || (feed.Stage == Stage.Queued && feed.Last?.QueuePosition == snapshot.QueuePosition))
                {
                    return;
                }

                feed.Stage = Stage.Queued;
                feed.Last = snapshot;
                await group.SendAsync(LiveEventNames.Queued, new QueuedEvent(feed.Id, snapshot.QueuePosition));
                return;

            case JobEventKind.Started:
                if (feed.Stage >= Stage.Running)
                {
                    return;
                }

                feed.Stage = Stage.Running;
                feed.Last = snapshot;
                await group.SendAsync(LiveEventNames.Started, new StartedEvent(feed.Id, StepsOf(snapshot)));
                return;

            case JobEventKind.Progress:
                if (feed.Stage == Stage.Running && snapshot.Step <= feed.Step)
                {
                    return;
                }

                if (feed.Stage < Stage.Running)
                {
                    // The start was overtaken by (or lost before) this step: announce it first.
                    feed.Stage = Stage.Running;
                    await group.SendAsync(LiveEventNames.Started, new StartedEvent(feed.Id, StepsOf(snapshot)));
                }

                feed.Last = snapshot;
                feed.Step = snapshot.Step;
                feed.Eta = jobEvent.EtaSeconds;
                feed.Preview = jobEvent.Preview is { } preview ? DataUrlOf(preview) : feed.Preview;
                await group.SendAsync(LiveEventNames.Progress, new ProgressEvent(feed.Id, snapshot.Step, StepsOf(snapshot), jobEvent.EtaSeconds, jobEvent.Preview is null ? null : feed.Preview));
                return;

            case JobEventKind.Completed:
            case JobEventKind.Failed:
            case JobEventKind.Cancelled:
                feed.Stage = Stage.Finished;
                feed.Last = snapshot;
                foreach (var byBase in feed.Connections.GroupBy(c => c.Value, StringComparer.Ordinal))
                {
                    var (name, payload) = FinishedEventOf(snapshot, byBase.Key);
                    await _hub.Clients.Clients([.. byBase.Select(c => c.Key)]).SendAsync(name, payload);
                }

                return;
        }
    }

    /// <summary>Under the feed's gate: the feed's state as the events a client that just arrived needs.</summary>
    private async Task SendCurrentAsync(JobFeed feed, string connectionId, string baseUrl)
    {
        var client = _hub.Clients.Client(connectionId);
        var last = feed.Last!;
        switch (feed.Stage)
        {
            case Stage.Queued:
                await client.SendAsync(LiveEventNames.Queued, new QueuedEvent(feed.Id, last.QueuePosition));
                break;
            case Stage.Running:
                await client.SendAsync(LiveEventNames.Started, new StartedEvent(feed.Id, StepsOf(last)));
                if (feed.Step > 0)
                {
                    await client.SendAsync(LiveEventNames.Progress, new ProgressEvent(feed.Id, feed.Step, StepsOf(last), feed.Eta, feed.Preview));
                }

                break;
            case Stage.Finished:
                var (name, payload) = FinishedEventOf(last, baseUrl);
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
                await Job(feed.Id).Unsubscribe(reference);
            }
            catch (Exception e)
            {
                // The grain forgets an observer that is not renewed anyway.
                LogUnsubscribeFailed(feed.Id, e);
            }

            _grains.DeleteObjectReference<IJobObserver>(reference);
        }
    }

    /// <summary>The event that a snapshot stands for, so that a snapshot and events go through the same ordering.</summary>
    private static JobEvent EventOf(JobSnapshot snapshot) => new(snapshot.Id, snapshot.Status switch
    {
        JobStatus.Queued => JobEventKind.Queued,
        JobStatus.Running => snapshot.Step > 0 ? JobEventKind.Progress : JobEventKind.Started,
        JobStatus.Succeeded => JobEventKind.Completed,
        JobStatus.Failed => JobEventKind.Failed,
        JobStatus.Cancelled => JobEventKind.Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(snapshot), snapshot.Status, "A job that does not exist has no events."),
    }, snapshot);

    private static (string Name, object Payload) FinishedEventOf(JobSnapshot snapshot, string baseUrl) => snapshot.Status switch
    {
        JobStatus.Succeeded => (LiveEventNames.Completed, new CompletedEvent(snapshot.Id, snapshot.Cached, GenerationEndpoints.ImagesOf(snapshot, baseUrl))),
        JobStatus.Failed => (LiveEventNames.Failed, new FailedEvent(snapshot.Id, snapshot.Error ?? "The generation failed.")),
        _ => (LiveEventNames.Cancelled, new CancelledEvent(snapshot.Id)),
    };

    /// <summary>Before the first step the grain does not know the step count yet; the spec's is the best guess.</summary>
    private static int StepsOf(JobSnapshot snapshot) => snapshot.TotalSteps > 0 ? snapshot.TotalSteps : snapshot.Spec?.Steps ?? 0;

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
        public IJobObserver Observer { get; set; } = null!;

        public IJobObserver? Reference { get; set; }

        public bool Closed { get; set; }

        public Stage Stage { get; set; }

        public JobSnapshot? Last { get; set; }

        public int Step { get; set; }

        public double? Eta { get; set; }

        public string? Preview { get; set; }
    }

    private sealed class FeedObserver(JobEventRelay relay, JobFeed feed) : IJobObserver
    {
        public Task OnJobEvent(JobEvent jobEvent) => relay.OnEventAsync(feed, jobEvent);
    }
}
