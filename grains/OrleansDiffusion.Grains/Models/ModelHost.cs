using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// The ONNX sessions of this silo, shared by its inference workers. A model loads on first use and is unloaded,
/// its native memory released, once no work has used it for <see cref="DiffusionOptions.ModelUnloadAfter"/>:
/// an idle silo holds no model. Models in <see cref="DiffusionOptions.WarmModels"/> stay loaded.
/// </summary>
public sealed partial class ModelHost : IDisposable
{
    private readonly ModelCatalog _catalog;
    private readonly DiffusionOptions _options;
    private readonly DiffusionMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<ModelHost> _logger;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly ITimer _sweeper;
    private bool _disposed;

    public ModelHost(ModelCatalog catalog, IOptions<DiffusionOptions> options, DiffusionMetrics metrics, TimeProvider time, ILogger<ModelHost> logger)
    {
        _catalog = catalog;
        _options = options.Value;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        var period = TimeSpan.FromTicks(Math.Clamp(_options.ModelUnloadAfter.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _sweeper = time.CreateTimer(_ => UnloadIdle(), null, period, period);
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
        Entry entry;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_entries.TryGetValue(modelId, out entry!))
            {
                entry = new Entry();
                _entries[modelId] = entry;
            }

            entry.Users++;
        }

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

    /// <summary>Loads the warm models now (the start-up preload).</summary>
    public void Preload()
    {
        foreach (var id in _options.WarmModels)
        {
            using var lease = Acquire(id);
        }
    }

    /// <summary>Unloads every model that is idle and not warm; returns how many it unloaded.</summary>
    public int UnloadIdle()
    {
        var now = _time.GetUtcNow();
        List<(string Id, DiffusionModel Model)> victims = [];
        lock (_gate)
        {
            foreach (var (id, entry) in _entries)
            {
                if (entry.Model is not null && entry.Users == 0 && !_options.WarmModels.Contains(id)
                    && now - entry.LastUsed >= _options.ModelUnloadAfter)
                {
                    victims.Add((id, entry.Model));
                    entry.Model = null;
                }
            }
        }

        foreach (var (id, model) in victims)
        {
            model.Dispose();
            _metrics.ModelUnloaded();
            Log.Unloaded(_logger, id);
        }

        return victims.Count;
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        lock (_gate)
        {
            _disposed = true;
            foreach (var entry in _entries.Values)
            {
                entry.Model?.Dispose();
                entry.Model = null;
            }
        }
    }

    internal void Release(string modelId)
    {
        lock (_gate)
        {
            var entry = _entries[modelId];
            entry.Users--;
            entry.LastUsed = _time.GetUtcNow();
        }
    }

    private ExecutionOptions ExecutionOptions() => new()
    {
        Provider = string.Equals(_options.Provider, "cuda", StringComparison.OrdinalIgnoreCase) ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
        IntraOpThreads = _options.IntraOpThreads,
    };

    private sealed class Entry
    {
        public Lock LoadGate { get; } = new();

        public DiffusionModel? Model { get; set; }

        public int Users { get; set; }

        public int Loads { get; set; }

        public DateTimeOffset LastUsed { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Model {Model} loaded in {Milliseconds:F0} ms")]
        public static partial void Loaded(ILogger logger, string model, double milliseconds);

        [LoggerMessage(2, LogLevel.Information, "Model {Model} unloaded after idling")]
        public static partial void Unloaded(ILogger logger, string model);
    }
}
