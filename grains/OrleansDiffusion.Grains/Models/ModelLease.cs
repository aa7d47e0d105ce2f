using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Grains.Models;

/// <summary>A model in use: dispose it to let the host unload the model when idle.</summary>
public sealed class ModelLease(ModelHost host, string modelId, DiffusionModel model) : IDisposable
{
    private int _disposed;

    public DiffusionModel Model { get; } = model;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            host.Release(modelId);
        }
    }
}
