using System.Security.Cryptography;
using System.Text;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// What a store keeps as one object: a single mark (stored as its <see cref="RetentionMark.Name"/> alone, with no
/// content) or a group of marks of one kind written together (stored as <c>{kind}/{time}-~{random}</c>, dated by its
/// latest mark and listing every mark's name, one per line). A group is listed once all its marks are due, so a mark in
/// a group is looked at no earlier than alone and at most a group's flush later; the sweep handles a set as a whole:
/// it writes back the marks it keeps, then removes the set.
/// </summary>
public sealed record RetentionMarkSet
{
    private const char GroupTag = '~';

    private RetentionMarkSet(RetentionKind kind, string name, DateTimeOffset at, bool isGroup, IReadOnlyList<RetentionMark> marks)
    {
        Kind = kind;
        Name = name;
        At = at;
        IsGroup = isGroup;
        Marks = marks;
    }

    public RetentionKind Kind { get; }

    /// <summary><c>{kind}/{time}-{id}</c> for a single mark, <c>{kind}/{time}-~{random}</c> for a group.</summary>
    public string Name { get; }

    /// <summary>The time in the name: the latest of the marks.</summary>
    public DateTimeOffset At { get; }

    public IReadOnlyList<RetentionMark> Marks { get; }

    /// <summary>Whether the set is stored with content (a group) rather than as a name alone.</summary>
    public bool IsGroup { get; }

    /// <summary>One mark, stored as its name.</summary>
    public static RetentionMarkSet Single(RetentionMark mark) => new(mark.Kind, mark.Name, mark.At, isGroup: false, [mark]);

    /// <summary>
    /// The set to store for <paramref name="marks"/> (all of one kind): the mark itself when there is one, a new group
    /// (a fresh random name) when there are more.
    /// </summary>
    public static RetentionMarkSet Of(IReadOnlyList<RetentionMark> marks)
    {
        ArgumentNullException.ThrowIfNull(marks);
        if (marks.Count == 0)
        {
            throw new ArgumentException("A mark set holds at least one mark.", nameof(marks));
        }

        var kind = marks[0].Kind;
        if (marks.Any(m => m.Kind != kind))
        {
            throw new ArgumentException("The marks of a set are all of one kind.", nameof(marks));
        }

        if (marks.Count == 1)
        {
            return Single(marks[0]);
        }

        var at = marks.Max(m => m.At);
        var name = $"{RetentionMark.FolderOf(kind)}/{RetentionMark.Stamp(at)}-{GroupTag}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";
        return new RetentionMarkSet(kind, name, at, isGroup: true, [.. marks]);
    }

    /// <summary>The stored content of a group: each mark's file name (time and id) on a line.</summary>
    public byte[] Content() => Encoding.UTF8.GetBytes(string.Concat(Marks.Select(m => FileNameOf(m) + "\n")));

    /// <summary>
    /// Reads a name under a kind's folder: a single mark (its set, complete), a group (null, and
    /// <paramref name="groupAt"/> set: its marks are to be read with <see cref="ReadGroup"/>), or neither (both null).
    /// </summary>
    public static RetentionMarkSet? ParseName(RetentionKind kind, string fileName, out DateTimeOffset? groupAt)
    {
        groupAt = null;
        var separator = fileName.IndexOf('-', StringComparison.Ordinal);
        if (separator > 0 && separator + 1 < fileName.Length && fileName[separator + 1] == GroupTag)
        {
            // A group: the stamp parses as a mark's would, with a placeholder id.
            if (RetentionMark.Parse(kind, fileName[..separator] + "-group") is { } stamp
                && fileName.Length > separator + 2
                && fileName[(separator + 2)..].All(char.IsAsciiHexDigitLower))
            {
                groupAt = stamp.At;
            }

            return null;
        }

        return RetentionMark.Parse(kind, fileName) is { } mark ? Single(mark) : null;
    }

    /// <summary>A stored group: the marks listed in <paramref name="content"/> (lines that are not marks are skipped).</summary>
    public static RetentionMarkSet ReadGroup(RetentionKind kind, string fileName, DateTimeOffset at, ReadOnlySpan<byte> content)
    {
        var marks = new List<RetentionMark>();
        foreach (var line in Encoding.UTF8.GetString(content).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (RetentionMark.Parse(kind, line) is { } mark)
            {
                marks.Add(mark);
            }
        }

        return new RetentionMarkSet(kind, $"{RetentionMark.FolderOf(kind)}/{fileName}", at, isGroup: true, marks);
    }

    /// <summary>The part of a mark's name after its kind's folder.</summary>
    public static string FileNameOf(RetentionMark mark) => mark.Name[(mark.Name.IndexOf('/', StringComparison.Ordinal) + 1)..];

    /// <summary>The part of the set's name after its kind's folder.</summary>
    public string FileName => Name[(Name.IndexOf('/', StringComparison.Ordinal) + 1)..];
}
