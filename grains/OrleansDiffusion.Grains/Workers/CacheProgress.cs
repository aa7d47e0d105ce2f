using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>
/// Sends the engine's per-step progress to the result caches of a run without blocking the engine thread, and stops
/// the run when no cache wants its result any more (every waiting job cancelled): within a step or two.
/// </summary>
internal sealed class CacheProgress(IResultCacheGrain[] caches, CancellationTokenSource cancellation, DiffusionMetrics metrics) : IProgress<GenerationProgress>
{
    private readonly Task<bool>?[] _pending = new Task<bool>?[caches.Length];
    private readonly bool[] _unwanted = new bool[caches.Length];
    private TimeSpan _previous;

    public void Report(GenerationProgress value)
    {
        metrics.Step(value.Elapsed - _previous);
        _previous = value.Elapsed;
        for (var i = 0; i < caches.Length; i++)
        {
            if (_pending[i] is { IsCompletedSuccessfully: true, Result: false })
            {
                _unwanted[i] = true;
            }

            if (!_unwanted[i] && _pending[i] is null or { IsCompleted: true })
            {
                // The preview belongs to image 0 of the batch, which is the first item's.
                _pending[i] = caches[i].ReportProgress(value.Step, value.TotalSteps, value.Elapsed.TotalSeconds, i == 0 ? value.Preview : null);
            }
        }

        if (_unwanted.All(u => u))
        {
            cancellation.Cancel();
        }
    }
}
