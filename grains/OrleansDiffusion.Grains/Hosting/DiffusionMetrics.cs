using System.Diagnostics.Metrics;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>
/// The service's metrics (meter <see cref="MeterName"/>), exported in Prometheus format as
/// <c>diffusion_inference_runs_total</c>, <c>diffusion_cache_hits_total</c>, <c>diffusion_dedup_joins_total</c>,
/// <c>diffusion_queue_depth</c>, <c>diffusion_jobs_running</c>, <c>diffusion_model_loads_total</c>,
/// <c>diffusion_model_load_duration_seconds</c>, <c>diffusion_step_latency_seconds</c>,
/// <c>diffusion_compute_seconds_per_image</c>, <c>diffusion_desired_silos</c> and more.
/// </summary>
public sealed class DiffusionMetrics : IDisposable
{
    public const string MeterName = "OrleansDiffusion";

    private readonly Meter _meter;
    private readonly Counter<long> _inferenceRuns;
    private readonly Counter<long> _images;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _dedupJoins;
    private readonly Counter<long> _modelLoads;
    private readonly Counter<long> _modelUnloads;
    private readonly Counter<long> _modelLoadFailures;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _requeues;
    private readonly Counter<long> _retentionDeleted;
    private readonly Counter<long> _webhookDeliveries;
    private readonly Histogram<double> _modelLoadDuration;
    private readonly Histogram<double> _stepLatency;
    private readonly Histogram<double> _computePerImage;
    private readonly UpDownCounter<long> _running;
    private readonly Lock _queueGate = new();
    private (int Pending, int Running, double OldestSeconds)? _queue;
    private int? _desiredSilos;

    public DiffusionMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _inferenceRuns = _meter.CreateCounter<long>("diffusion_inference_runs", description: "Pipeline executions (a batch counts once).");
        _images = _meter.CreateCounter<long>("diffusion_images_generated", description: "Images produced by inference.");
        _cacheHits = _meter.CreateCounter<long>("diffusion_cache_hits", description: "Requests answered from stored results without inference.");
        _dedupJoins = _meter.CreateCounter<long>("diffusion_dedup_joins", description: "Requests that joined an identical inference already queued or running.");
        _modelLoads = _meter.CreateCounter<long>("diffusion_model_loads", description: "Model loads into ONNX Runtime sessions.");
        _modelLoadFailures = _meter.CreateCounter<long>("diffusion_model_load_failures", description: "Model loads that failed (a folder that is not a usable model, out of memory, a provider error).");
        _modelUnloads = _meter.CreateCounter<long>("diffusion_model_unloads", description: "Idle models unloaded, memory released.");
        _failures = _meter.CreateCounter<long>("diffusion_inference_failures", description: "Inference runs that failed.");
        _requeues = _meter.CreateCounter<long>("diffusion_work_requeued", description: "Leased work handed back to the queue (silo left, lease lost, storage fault).");
        _retentionDeleted = _meter.CreateCounter<long>("diffusion_retention_deleted", description: "Items the retention sweep deleted, by kind (jobs, results, images, inputs).");
        _modelLoadDuration = _meter.CreateHistogram<double>("diffusion_model_load_duration", unit: "s", description: "Time to load a model.");
        _stepLatency = _meter.CreateHistogram<double>("diffusion_step_latency", unit: "s", description: "Wall time of one denoising step (UNet, guidance, scheduler).");
        _computePerImage = _meter.CreateHistogram<double>("diffusion_compute_seconds_per_image", description: "Inference wall time divided by the images it produced.");
        _webhookDeliveries = _meter.CreateCounter<long>("diffusion_webhook_deliveries", description: "Webhook delivery attempts by outcome (delivered, refused: a non-2xx answer, failed: no answer, blocked: a refused address, abandoned: an event given up after its last attempt).");
        _running = _meter.CreateUpDownCounter<long>("diffusion_jobs_running", description: "Inference runs in progress on this silo.");
        _meter.CreateObservableGauge("diffusion_queue_depth", ObserveQueueDepth, description: "Requests waiting in the work queue (reported by the silo hosting the queue).");
        _meter.CreateObservableGauge("diffusion_queue_oldest_age", ObserveQueueAge, unit: "s", description: "Age of the oldest waiting request.");
        _meter.CreateObservableGauge("diffusion_desired_silos", ObserveDesiredSilos, description: "Inference silos the cluster wants now, from queued and running work (the autoscaling signal; reported by the silo hosting the queue).");
    }

    public void InferenceRun(int images, TimeSpan elapsed)
    {
        _inferenceRuns.Add(1);
        _images.Add(images);
        if (images > 0)
        {
            _computePerImage.Record(elapsed.TotalSeconds / images);
        }
    }

    public void InferenceFailed() => _failures.Add(1);

    public void CacheHit() => _cacheHits.Add(1);

    public void DedupJoin() => _dedupJoins.Add(1);

    public void Requeued(int items) => _requeues.Add(items);

    public void RetentionSwept(Contracts.RetentionSweepReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        AddDeleted("jobs", report.JobsDeleted);
        AddDeleted("results", report.ResultsExpired);
        AddDeleted("images", report.ImagesDeleted);
        AddDeleted("inputs", report.InputsDeleted);

        void AddDeleted(string kind, int count)
        {
            if (count > 0)
            {
                _retentionDeleted.Add(count, new KeyValuePair<string, object?>("kind", kind));
            }
        }
    }

    /// <summary>One webhook delivery attempt, or an event given up, by <paramref name="outcome"/>.</summary>
    public void WebhookDelivery(string outcome) => _webhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void ModelLoaded(TimeSpan elapsed)
    {
        _modelLoads.Add(1);
        _modelLoadDuration.Record(elapsed.TotalSeconds);
    }

    public void ModelLoadFailed() => _modelLoadFailures.Add(1);

    public void ModelUnloaded() => _modelUnloads.Add(1);

    public void Step(TimeSpan elapsed) => _stepLatency.Record(elapsed.TotalSeconds);

    public void RunStarted() => _running.Add(1);

    public void RunEnded() => _running.Add(-1);

    /// <summary>Set by the queue overview grain on the silo that hosts it; null when it deactivates.</summary>
    public void SetQueue(int pending, int running, double oldestSeconds)
    {
        lock (_queueGate)
        {
            _queue = (pending, running, oldestSeconds);
        }
    }

    /// <summary>Set by the queue overview grain with each new scaling signal.</summary>
    public void SetDesiredSilos(int desired)
    {
        lock (_queueGate)
        {
            _desiredSilos = desired;
        }
    }

    public void ClearQueue()
    {
        lock (_queueGate)
        {
            _queue = null;
            _desiredSilos = null;
        }
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> ObserveQueueDepth()
    {
        lock (_queueGate)
        {
            return _queue is { } q ? [new Measurement<int>(q.Pending)] : [];
        }
    }

    private IEnumerable<Measurement<int>> ObserveDesiredSilos()
    {
        lock (_queueGate)
        {
            return _desiredSilos is { } desired ? [new Measurement<int>(desired)] : [];
        }
    }

    private IEnumerable<Measurement<double>> ObserveQueueAge()
    {
        lock (_queueGate)
        {
            return _queue is { } q ? [new Measurement<double>(q.OldestSeconds)] : [];
        }
    }
}
