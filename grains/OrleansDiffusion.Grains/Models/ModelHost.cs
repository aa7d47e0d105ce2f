using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// The ONNX sessions of this silo, shared by its inference workers. A model is held by the inference worker activations
/// for it (<see cref="Hold"/>) and by the runs that use it (<see cref="Acquire"/>); it loads on first use and is unloaded,
/// its native memory released, when the last holder lets go: the last worker activation for it is collected after
/// <see cref="DiffusionOptions.ModelUnloadAfter"/> without work, so an idle silo holds no model. Models in
/// <see cref="DiffusionOptions.WarmModels"/> stay loaded.
/// </summary>
public sealed partial class ModelHost : IDisposable
{
    private readonly ModelCatalog _catalog;
    private readonly DiffusionOptions _options;
    private readonly DiffusionMetrics _metrics;
    private readonly ILogger<ModelHost> _logger;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    public ModelHost(ModelCatalog catalog, IOptions<DiffusionOptions> options, DiffusionMetrics metrics, ILogger<ModelHost> logger)
    {
        _catalog = catalog;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The ids of the models loaded now.</summary>
    public IReadOnlyList<string> LoadedModels
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries.Where(e => e.Value.Model is not null).Select(e => e.Key)];
            }
        }
    }

    /// <summary>Loads of each model since start (for tests and the dashboard).</summary>
    public int LoadCount(string modelId)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(modelId, out var entry) ? entry.Loads : 0;
        }
    }

    /// <summary>
    /// The loaded model <paramref name="modelId"/>, loading it first when needed (on the calling thread: call it off
    /// the grain scheduler). Dispose the lease when the work is done.
    /// </summary>
    public ModelLease Acquire(string modelId)
    {
        var catalogModel = _catalog.Get(modelId);
        var entry = Reserve(modelId);
        try
        {
            // One loader per model; others wait for it rather than loading a second copy.
            lock (entry.LoadGate)
            {
                if (entry.Model is null)
                {
                    var started = Stopwatch.GetTimestamp();
                    DiffusionModel model;
                    try
                    {
                        model = DiffusionModel.Load(catalogModel.Folder, ExecutionOptions(), _logger);
                    }
                    catch
                    {
                        _metrics.ModelLoadFailed();
                        throw;
                    }

                    var elapsed = Stopwatch.GetElapsedTime(started);
                    lock (_gate)
                    {
                        entry.Model = model;
                        entry.Loads++;
                    }

                    _metrics.ModelLoaded(elapsed);
                    Log.Loaded(_logger, modelId, elapsed.TotalMilliseconds);
                }
            }

            return new ModelLease(this, modelId, entry.Model!);
        }
        catch
        {
            Release(modelId);
            throw;
        }
    }

    /// <summary>
    /// Keeps <paramref name="modelId"/> loaded once it is loaded, without loading it, until the hold is disposed (an
    /// inference worker activation holds its model while it lives).
    /// </summary>
    public IDisposable Hold(string modelId)
    {
        _catalog.Get(modelId);
        Reserve(modelId);
        return new ModelHold(this, modelId);
    }

    /// <summary>Loads the warm models now (the start-up preload).</summary>
    public void Preload()
    {
        foreach (var id in _options.WarmModels)
        {
            using var lease = Acquire(id);
        }
    }

    public void Dispose()
    {
        var released = false;
        lock (_gate)
        {
            _disposed = true;
            foreach (var entry in _entries.Values)
            {
                released |= entry.Model is not null;
                entry.Model?.Dispose();
                entry.Model = null;
            }
        }

        // As after an unload: the process may live on (a host stopped inside a larger process, tests).
        if (released && _options.TrimNativeHeapOnUnload)
        {
            NativeHeap.Trim();
        }
    }

    /// <summary>One holder fewer; the last one unloads the model (unless it is warm).</summary>
    internal void Release(string modelId)
    {
        DiffusionModel? unload = null;
        lock (_gate)
        {
            var entry = _entries[modelId];
            entry.Users--;
            if (entry.Users == 0 && entry.Model is not null && !_options.WarmModels.Contains(modelId) && !_disposed)
            {
                unload = entry.Model;
                entry.Model = null;
            }
        }

        if (unload is not null)
        {
            // A loader waiting on the load gate sees no model and loads it again.
            unload.Dispose();
            if (_options.TrimNativeHeapOnUnload)
            {
                NativeHeap.Trim();
            }

            _metrics.ModelUnloaded();
            Log.Unloaded(_logger, modelId);
        }
    }

    private Entry Reserve(string modelId)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_entries.TryGetValue(modelId, out var entry))
            {
                entry = new Entry();
                _entries[modelId] = entry;
            }

            entry.Users++;
            return entry;
        }
    }

    /// <summary>How this silo's models run: its provider, CUDA options and threads.</summary>
    internal ExecutionOptions ExecutionOptions() => new()
    {
        Provider = string.Equals(_options.Provider, "cuda", StringComparison.OrdinalIgnoreCase) ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
        Cuda = _options.Cuda.ToEngineOptions(),
        IntraOpThreads = _options.IntraOpThreads,
        AllowSpinning = _options.AllowSpinning,
    };

    private sealed class ModelHold(ModelHost host, string modelId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                host.Release(modelId);
            }
        }
    }

    private sealed class Entry
    {
        public Lock LoadGate { get; } = new();

        public DiffusionModel? Model { get; set; }

        public int Users { get; set; }

        public int Loads { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Model {Model} loaded in {Milliseconds:F0} ms")]
        public static partial void Loaded(ILogger logger, string model, double milliseconds);

        [LoggerMessage(2, LogLevel.Information, "Model {Model} unloaded: no worker holds it")]
        public static partial void Unloaded(ILogger logger, string model);
    }
}
