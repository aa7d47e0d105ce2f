using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Sends every step of the engine's progress to the owners of a run's inferences (one report in flight per owner, the
/// next chained behind it; the owner numbers them) without blocking the engine thread. When no owner wants its result
/// any more (every waiting job cancelled, or the lease lost) the run is cancelled: the answer to one step's report is
/// seen during a later step, so work stops within a step or two.
/// </summary>
internal sealed class CacheProgress(IResultCacheGrain[] owners, Guid leaseId, CancellationTokenSource cancellation, DiffusionMetrics metrics) : IProgress<GenerationProgress>
{
    private readonly Task<bool>[] _chains = [.. owners.Select(_ => Task.FromResult(true))];
    private TimeSpan _previous;

    public void Report(GenerationProgress value)
    {
        metrics.Step(value.Elapsed - _previous);
        _previous = value.Elapsed;
        var unwanted = 0;
        for (var i = 0; i < owners.Length; i++)
        {
            if (_chains[i] is { IsCompletedSuccessfully: true, Result: false })
            {
                unwanted++;
                continue;
            }

            // The preview belongs to image 0 of the batch, which is the first item's.
            _chains[i] = SendAfterAsync(_chains[i], owners[i], value, i == 0 ? value.Preview : null);
        }

        if (unwanted == owners.Length)
        {
            cancellation.Cancel();
        }
    }

    /// <summary>Waits until every report sent so far was delivered (before the run reports its result).</summary>
    public async Task FlushAsync()
    {
        foreach (var chain in _chains)
        {
            try
            {
                await chain;
            }
            catch (Exception)
            {
                // A lost progress report is not worth failing the run for.
            }
        }
    }

    private async Task<bool> SendAfterAsync(Task<bool> previous, IResultCacheGrain owner, GenerationProgress value, byte[]? preview)
    {
        try
        {
            if (!await previous)
            {
                return false;
            }
        }
        catch (Exception)
        {
            // The previous report was lost; this one may still arrive.
        }

        return await owner.Progress(leaseId, value.Step, value.TotalSteps, value.Elapsed.TotalSeconds, preview);
    }
}
