using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// What AUTOMATIC1111 keeps per process and its clients rely on: the selected checkpoint (POST options) and the jobs
/// this API process runs for <c>/sdapi</c>, the oldest of which is the "current" job that progress, interrupt and skip
/// address. A1111 runs one job at a time; the cluster runs several, so <c>job_count</c> counts them all.
/// </summary>
public sealed class Automatic1111State
{
    private readonly Lock _lock = new();
    private readonly List<Automatic1111Job> _jobs = [];

    /// <summary>The model id chosen with POST options (a model the cluster serves); null for the cluster's default.</summary>
    public string? Model { get; set; }

    public Automatic1111Job Begin(Guid id, DateTimeOffset startedAt)
    {
        var job = new Automatic1111Job(id, startedAt);
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

    /// <summary>The oldest unfinished job and how many there are.</summary>
    public (Automatic1111Job? Current, int Count) Snapshot()
    {
        lock (_lock)
        {
            return (_jobs.Count > 0 ? _jobs[0] : null, _jobs.Count);
        }
    }
}

/// <summary>
/// One running <c>/sdapi</c> job: it keeps the latest live preview, fed in order from the inference's event stream.
/// </summary>
public sealed class Automatic1111Job(Guid id, DateTimeOffset startedAt)
{
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
