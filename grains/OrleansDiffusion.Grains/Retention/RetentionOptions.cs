namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// How long what the service stores is kept (section <c>Diffusion:Retention</c>). Each period counts from the item's
/// last use; zero or empty keeps that kind for ever (and then costs nothing: no dated marks are written for it). A sweep
/// every <see cref="SweepInterval"/>, in one place in the cluster, deletes what is past its period; what is past its
/// period but not swept yet already answers as gone.
/// </summary>
public sealed class RetentionOptions
{
    /// <summary>
    /// Generated images and the result-cache entry that points at them, counted from the inference's end (a cache hit
    /// in the last <see cref="Jobs"/> of a result's life starts its period again, so that no job outlives its images).
    /// An identical request after that computes the images again. Default: 30 days.
    /// </summary>
    public TimeSpan? Results { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Uploaded img2img init images and inpainting masks, counted from their last upload or use; never deleted while an
    /// inference that uses one is queued or running. Default: 1 day.
    /// </summary>
    public TimeSpan? Inputs { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Job records, counted from the job's creation; an unfinished job is kept until it ends. Must be set, and not
    /// longer than <see cref="Results"/>, when results expire: a job never shows images that are gone. Default: 7 days.
    /// </summary>
    public TimeSpan? Jobs { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often the sweep looks for what is past its period. Default: 15 minutes.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The period of <paramref name="kind"/>, or null when that kind is kept for ever.</summary>
    public TimeSpan? PeriodOf(RetentionKind kind) => (kind switch
    {
        RetentionKind.Jobs => Jobs,
        RetentionKind.Results => Results,
        RetentionKind.Inputs or RetentionKind.InputUses => Inputs,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    }) is { } period && period > TimeSpan.Zero ? period : null;

    /// <summary>Whether anything expires at all (otherwise no sweep runs).</summary>
    public bool ExpiresAnything => PeriodOf(RetentionKind.Jobs) is not null || PeriodOf(RetentionKind.Results) is not null || PeriodOf(RetentionKind.Inputs) is not null;

    /// <summary>The configuration errors, empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var failures = new List<string>();
        foreach (var (name, value) in new[] { ("Results", Results), ("Inputs", Inputs), ("Jobs", Jobs) })
        {
            if (value < TimeSpan.Zero)
            {
                failures.Add($"{section}:{name} must not be negative (got {value}); 0 or empty keeps for ever.");
            }
        }

        if (PeriodOf(RetentionKind.Results) is { } results && (PeriodOf(RetentionKind.Jobs) is not { } jobs || jobs > results))
        {
            failures.Add(
                $"{section}:Jobs must be set and not longer than {section}:Results when results expire " +
                $"(got Jobs={Jobs}, Results={Results}): a job record must not outlive its images.");
        }

        if (SweepInterval <= TimeSpan.Zero)
        {
            failures.Add($"{section}:SweepInterval must be positive (got {SweepInterval}).");
        }

        return failures;
    }
}
