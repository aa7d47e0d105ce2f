using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// The <c>/sdapi</c> jobs this API process runs, per API key: the oldest of a key's jobs is that key's "current" job,
/// the one its progress, interrupt and skip address (A1111 runs one job at a time; the cluster runs several, so
/// <c>job_count</c> counts them all). A key never sees or stops another key's jobs. The checkpoint a key selects is kept
/// in the cluster (<see cref="IKeySettingsGrain"/>), not here.
/// </summary>
public sealed class Automatic1111State
{
    private readonly Lock _lock = new();
    private readonly List<Automatic1111Job> _jobs = [];

    public Automatic1111Job Begin(string apiKey, Guid id, DateTimeOffset startedAt)
    {
        var job = new Automatic1111Job(apiKey, id, startedAt);
        lock (_lock)
        {
            _jobs.Add(job);
        }

        return job;
    }

    public void End(Automatic1111Job job)
    {
        lock (_lock)
        {
            _jobs.Remove(job);
        }
    }

    /// <summary>The key's oldest unfinished job and how many it has.</summary>
    public (Automatic1111Job? Current, int Count) Snapshot(string apiKey)
    {
        lock (_lock)
        {
            var own = _jobs.Where(j => j.ApiKey == apiKey).ToList();
            return (own.FirstOrDefault(), own.Count);
        }
    }
}

/// <summary>
/// One running <c>/sdapi</c> job: it keeps the latest live preview, fed in order from the inference's event stream.
/// </summary>
public sealed class Automatic1111Job(string apiKey, Guid id, DateTimeOffset startedAt)
{
    /// <summary>The name of the API key that runs it.</summary>
    public string ApiKey { get; } = apiKey;

    public Guid Id { get; } = id;

    public DateTimeOffset StartedAt { get; } = startedAt;

    /// <summary>The latest preview (JPEG), or null before the first one.</summary>
    public byte[]? Preview { get; private set; }

    public bool Interrupted { get; set; }

    public bool Skipped { get; set; }

    /// <summary>Applies one event of the job's inference (already in sequence order).</summary>
    public void Apply(InferenceEvent inferenceEvent)
    {
        if (inferenceEvent.Preview is { } preview)
        {
            Preview = preview;
        }
    }
}
