using System.Globalization;
using System.Text.RegularExpressions;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// One dated entry in a retention list: <see cref="Id"/> is to be looked at once <see cref="At"/> is older than its
/// kind's period. A store keeps marks named by <see cref="Name"/> (the kind, then the time in a fixed-width form, then
/// the id), so that listing a kind in name order lists it oldest first and a sweep reads only what is due.
/// </summary>
public sealed partial record RetentionMark
{
    private const string TimeFormat = "yyyyMMdd'T'HHmmssfffffff'Z'";

    public RetentionMark(RetentionKind kind, string id, DateTimeOffset at)
    {
        if (!IdPattern().IsMatch(id))
        {
            throw new ArgumentException($"'{id}' is not a retention mark id (letters, digits, '.', '_' and '-').", nameof(id));
        }

        Kind = kind;
        Id = id;
        At = at.ToUniversalTime();
    }

    public RetentionKind Kind { get; }

    public string Id { get; }

    public DateTimeOffset At { get; }

    /// <summary>The same item, marked at another time.</summary>
    public RetentionMark Renewed(DateTimeOffset at) => new(Kind, Id, at);

    /// <summary><c>{kind}/{time}-{id}</c>, relative to a store's retention folder or prefix.</summary>
    public string Name => $"{FolderOf(Kind)}/{Stamp(At)}-{Id}";

    /// <summary>The folder (or blob prefix) of a kind's marks.</summary>
    public static string FolderOf(RetentionKind kind) => kind switch
    {
        RetentionKind.Jobs => "jobs",
        RetentionKind.Results => "results",
        RetentionKind.Inputs => "inputs",
        RetentionKind.InputUses => "input-uses",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The time as it appears in a mark's name: sortable, to the tick.</summary>
    public static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>Reads a mark back from the file or blob name under its kind's folder; null for a name that is not a mark.</summary>
    public static RetentionMark? Parse(RetentionKind kind, string fileName)
    {
        var separator = fileName.IndexOf('-', StringComparison.Ordinal);
        if (separator <= 0
            || !DateTime.TryParseExact(fileName[..separator], TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at)
            || !IdPattern().IsMatch(fileName[(separator + 1)..]))
        {
            return null;
        }

        return new RetentionMark(kind, fileName[(separator + 1)..], new DateTimeOffset(at, TimeSpan.Zero));
    }

    [GeneratedRegex(@"\A[0-9A-Za-z][0-9A-Za-z._-]{0,199}\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}
