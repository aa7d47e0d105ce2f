using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Sends the engine's progress to the owners of a run's inferences without blocking the engine thread: one report in
/// flight per owner, and while it travels only the latest step waits behind it (a step supersedes the ones before it,
/// and its preview, or the latest one seen, goes with it). Steps slower than a grain call (every real model's) are each
/// reported; a tiny model's sub-millisecond steps coalesce instead of queueing calls. When no owner wants its result
/// any more (every waiting job cancelled, or the lease lost) the run is cancelled as soon as the last of them answers
/// so, which terminates the UNet call in progress: work stops within the step after the one that reported.
/// </summary>
internal sealed class CacheProgress(IResultCacheGrain[] owners, Guid leaseId, CancellationTokenSource cancellation, DiffusionMetrics metrics) : IProgress<GenerationProgress>
{
    private readonly Channel[] _channels = CreateChannels(owners, leaseId, cancellation);
    private TimeSpan _previous;

    public void Report(GenerationProgress value)
    {
        metrics.Step(value.Elapsed - _previous);
        _previous = value.Elapsed;
        foreach (var channel in _channels)
        {
            if (!channel.Unwanted)
            {
                channel.Send(value);
            }
        }
    }

    /// <summary>One channel per owner; the last owner to answer "unwanted" cancels the run there and then.</summary>
    private static Channel[] CreateChannels(IResultCacheGrain[] owners, Guid leaseId, CancellationTokenSource run)
    {
        var unwanted = 0;
        void OneUnwanted()
        {
            if (Interlocked.Increment(ref unwanted) == owners.Length)
            {
                try
                {
                    run.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The run ended meanwhile.
                }
            }
        }

        return [.. owners.Select((owner, i) => new Channel(owner, leaseId, first: i == 0, OneUnwanted))];
    }

    /// <summary>Waits until the last report of each owner was delivered (before the run reports its result).</summary>
    public async Task FlushAsync()
    {
        foreach (var channel in _channels)
        {
            await channel.FlushAsync();
        }
    }

    /// <summary>One owner's reports: at most one in flight, at most one (the latest) waiting.</summary>
    private sealed class Channel(IResultCacheGrain owner, Guid leaseId, bool first, Action unwanted)
    {
        private readonly Lock _gate = new();
        private GenerationProgress? _waiting;
        private byte[]? _waitingPreview;
        private Task _sending = Task.CompletedTask;
        private bool _inFlight;

        /// <summary>True once the owner answered that it no longer wants the result.</summary>
        public bool Unwanted { get; private set; }

        public void Send(GenerationProgress value)
        {
            // The preview belongs to image 0 of the batch, which is the first item's.
            var preview = first ? value.Preview : null;
            lock (_gate)
            {
                if (_inFlight)
                {
                    _waitingPreview = preview ?? _waitingPreview;
                    _waiting = value;
                    return;
                }

                _inFlight = true;
                _sending = SendLoopAsync(value, preview);
            }
        }

        public async Task FlushAsync()
        {
            Task sending;
            lock (_gate)
            {
                sending = _sending;
            }

            await sending;
        }

        private async Task SendLoopAsync(GenerationProgress value, byte[]? preview)
        {
            while (true)
            {
                try
                {
                    if (!await owner.Progress(leaseId, value.Step, value.TotalSteps, value.Elapsed.TotalSeconds, preview) && !Unwanted)
                    {
                        Unwanted = true;
                        unwanted();
                    }
                }
                catch (Exception)
                {
                    // A lost progress report is not worth failing the run for; the next one may still arrive.
                }

                lock (_gate)
                {
                    if (_waiting is not { } next || Unwanted)
                    {
                        _waiting = null;
                        _waitingPreview = null;
                        _inFlight = false;
                        return;
                    }

                    (value, preview) = (next, _waitingPreview);
                    _waiting = null;
                    _waitingPreview = null;
                }
            }
        }
    }
}
