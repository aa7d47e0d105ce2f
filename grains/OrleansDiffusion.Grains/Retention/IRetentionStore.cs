namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// What the retention sweep needs from the image store: dated marks (a list per <see cref="RetentionKind"/>, read
/// oldest first up to a cutoff, so a sweep reads what is due and nothing else; stored one by one or, on the busy path,
/// group-committed by <see cref="RetentionMarker"/>), and a touched time per stored item that
/// every save and use refreshes, so that a delete can be made conditional on nobody having used the item since the
/// cutoff. Both image stores implement it beside <see cref="Storage.IImageStore"/>; transient faults surface as
/// <see cref="Storage.ImageStoreUnavailableException"/>.
/// </summary>
public interface IRetentionStore
{
    /// <summary>
    /// Stores a set of marks as one object: a single mark as a name alone, a group as one object listing its marks
    /// (storing the same set twice is harmless).
    /// </summary>
    Task MarkAsync(RetentionMarkSet marks, CancellationToken cancellationToken);

    /// <summary>
    /// The stored sets of <paramref name="kind"/> dated at or before <paramref name="cutoff"/> (a group by its latest
    /// mark, so every mark listed is due), oldest first.
    /// </summary>
    IAsyncEnumerable<RetentionMarkSet> ListMarksAsync(RetentionKind kind, DateTimeOffset cutoff, CancellationToken cancellationToken);

    /// <summary>Removes a stored set; a set already gone is no error.</summary>
    Task RemoveMarksAsync(RetentionMarkSet marks, CancellationToken cancellationToken);

    /// <summary>Sets the item's touched time to <paramref name="at"/>; false when the item is not stored.</summary>
    Task<bool> TouchAsync(string key, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the item unless it was touched after <paramref name="cutoff"/>. Atomic against a concurrent save or
    /// touch: an item touched while it is being deleted stays (or is stored again by that save).
    /// </summary>
    Task<ReapOutcome> DeleteIfUntouchedAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken);
}

/// <summary>What <see cref="IRetentionStore.DeleteIfUntouchedAsync"/> did.</summary>
public enum ReapOutcome
{
    Deleted,

    /// <summary>Touched after the cutoff: still in use.</summary>
    Kept,

    /// <summary>Not stored (deleted before, by another sweep or by hand).</summary>
    Missing,
}

/// <summary>Single marks, stored and removed as sets of one.</summary>
public static class RetentionStoreExtensions
{
    /// <summary>Stores one mark (adding the same mark twice is harmless).</summary>
    public static Task MarkAsync(this IRetentionStore store, RetentionMark mark, CancellationToken cancellationToken) =>
        store.MarkAsync(RetentionMarkSet.Single(mark), cancellationToken);

    /// <summary>Removes one single mark; a mark already gone is no error.</summary>
    public static Task RemoveMarkAsync(this IRetentionStore store, RetentionMark mark, CancellationToken cancellationToken) =>
        store.RemoveMarksAsync(RetentionMarkSet.Single(mark), cancellationToken);
}
