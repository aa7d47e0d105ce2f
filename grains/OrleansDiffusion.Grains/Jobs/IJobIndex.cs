using System.Globalization;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// Each API key's jobs, newest first: one small record per job (never a list in one record), added when the job is
/// accepted and removed with the job's record, so a job costs the same whatever the key's history. A position sorts
/// newest first as an ordinal string (<see cref="PositionOf"/>); a listing resumes after one.
/// </summary>
public interface IJobIndex
{
    Task AddAsync(string apiKey, Guid job, DateTimeOffset createdAt);

    /// <summary>Removes the job's record; one already gone is no error.</summary>
    Task RemoveAsync(string apiKey, Guid job, DateTimeOffset createdAt);

    /// <summary>Up to <paramref name="max"/> entries after <paramref name="after"/> (null: from the newest).</summary>
    Task<JobIndexPage> ListAsync(string apiKey, string? after, int max, CancellationToken cancellationToken);

    /// <summary>
    /// The job's place in its key's index: the creation time inverted (19 digits, so that newer sorts first), then the
    /// job id (two jobs of one tick stay apart).
    /// </summary>
    public static string PositionOf(Guid job, DateTimeOffset createdAt) =>
        (DateTimeOffset.MaxValue.UtcTicks - createdAt.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + "-" + job.ToString("N");

    /// <summary>Whether <paramref name="position"/> has the shape of <see cref="PositionOf"/> (a client's cursor is checked before use).</summary>
    public static bool IsPosition(string position) =>
        position.Length == 19 + 1 + 32
        && !position.AsSpan(0, 19).ContainsAnyExcept("0123456789")
        && position[19] == '-'
        && Guid.TryParseExact(position.AsSpan(20), "N", out _);

    /// <summary>The job of a position made by <see cref="PositionOf"/>.</summary>
    public static Guid JobOf(string position) => Guid.ParseExact(position.AsSpan(20), "N");
}
