namespace OrleansDiffusion.Contracts;

/// <summary>
/// Reads one API key's job index (key: the API key's name): the key's jobs, newest first, one index row per job written
/// when the job was accepted and removed with its record. A stateless reader on whichever silo it is called.
/// </summary>
[Alias("od.IJobListGrain")]
public interface IJobListGrain : IGrainWithStringKey
{
    /// <summary>
    /// Up to <paramref name="max"/> of the key's jobs, newest first, starting after the position <paramref name="after"/>
    /// (a <see cref="JobIndexEntry.Position"/> of an earlier page; null for the newest).
    /// </summary>
    [Alias("List")]
    Task<JobIndexPage> List(string? after, int max);
}

/// <summary>One job in a key's index; <see cref="Position"/> orders the index (newest first) and resumes a listing.</summary>
[GenerateSerializer, Immutable, Alias("od.JobIndexEntry")]
public sealed record JobIndexEntry(
    [property: Id(0)] Guid Job,
    [property: Id(1)] string Position);

/// <summary>A page of a key's index; <see cref="More"/> says whether entries follow the last one.</summary>
[GenerateSerializer, Immutable, Alias("od.JobIndexPage")]
public sealed record JobIndexPage(
    [property: Id(0)] IReadOnlyList<JobIndexEntry> Jobs,
    [property: Id(1)] bool More);
