using Microsoft.Extensions.Options;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Workers;

/// <summary>This silo's inference capacity: one slot per generation it may run at once.</summary>
public sealed class WorkerSlots(IOptions<DiffusionOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.Capacity, Math.Max(1, options.Value.Capacity));

    public int Capacity { get; } = options.Value.Capacity;

    public int Free => _slots.CurrentCount;

    public Task WaitAsync(CancellationToken cancellationToken) => _slots.WaitAsync(cancellationToken);

    public void Release() => _slots.Release();

    public void Dispose() => _slots.Dispose();
}
