using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Retention;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Images as files under <see cref="ImageStoreOptions.LocalRoot"/>: the zero-configuration store for one machine.
/// Each file is written to a temporary name beside its final one, flushed to disk and then moved into place, so a
/// reader never sees a partial image and a crash leaves at most a stray temporary file. A file's last-write time is
/// its touched time (see <see cref="IRetentionStore"/>): saving content that is already stored sets it again, and the
/// retention marks are files under <c>retention/{kind}/{hour}/</c> (empty for a single mark, a short list for a group).
/// </summary>
public sealed class LocalDiskImageStore : IImageStore, IRetentionStore
{
    private const string TempSuffix = ".tmp";
    private const string ReapSuffix = ".reap";
    private const string RetentionFolder = "retention";
    private const string HourFormat = "yyyyMMddHH";

    private readonly TimeProvider _time;

    public LocalDiskImageStore(IOptions<ImageStoreOptions> options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Root = Path.GetFullPath(options.Value.LocalRoot);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The absolute root folder.</summary>
    public string Root { get; }

    public async Task<ImageRef> SaveImageAsync(ReadOnlyMemory<byte> png, long seed, int width, int height, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(png);
        var key = ImageKeys.ForImage(png.Span);
        await WriteOnceAsync(key, png, cancellationToken);
        return new ImageRef(key, seed, width, height, png.Length);
    }

    public async Task<string> SaveInputAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(bytes);
        var key = ImageKeys.ForInput(bytes);
        await WriteOnceAsync(key, bytes, cancellationToken);
        return key;
    }

    public async Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(File.Exists(PathOf(key)));
    }

    public Task<Uri?> GetReadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken)
    {
        ImageKeys.Validate(key);
        return Task.FromResult<Uri?>(null);
    }

    public Task<bool> TouchAsync(string key, DateTimeOffset at, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(TryTouch(PathOf(key), at));
    }

    public Task<ReapOutcome> DeleteIfUntouchedAsync(string key, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var path = PathOf(key);
        if (!File.Exists(path))
        {
            return Task.FromResult(ReapOutcome.Missing);
        }

        if (TouchedAfter(path, cutoff))
        {
            return Task.FromResult(ReapOutcome.Kept);
        }

        // Moved aside first, then looked at again: a touch that came in between shows on the moved file (it is put
        // back), and one that comes after finds no file and stores the content again.
        var aside = path + "." + Guid.NewGuid().ToString("N") + ReapSuffix;
        try
        {
            File.Move(path, aside);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult(ReapOutcome.Missing);
        }

        try
        {
            if (!TouchedAfter(aside, cutoff))
            {
                return Task.FromResult(ReapOutcome.Deleted);
            }

            try
            {
                File.Move(aside, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Saved again meanwhile: that copy holds the same bytes.
            }

            return Task.FromResult(ReapOutcome.Kept);
        }
        finally
        {
            File.Delete(aside);
        }
    }

    public Task MarkAsync(RetentionMarkSet marks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(marks);
        cancellationToken.ThrowIfCancellationRequested();
        var path = MarkPath(marks);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                if (!marks.IsGroup)
                {
                    // Shared: the same mark may be written twice at once (a job's two marks renewed by one sweep), and
                    // an exclusive create would fail the second writer on its advisory lock.
                    using (new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                    {
                    }
                }
                else
                {
                    // Written aside and moved in, so a sweep never reads half a group (the aside name is no mark).
                    var aside = path + "." + Guid.NewGuid().ToString("N") + TempSuffix;
                    File.WriteAllBytes(aside, marks.Content());
                    File.Move(aside, path, overwrite: true);
                }

                return Task.CompletedTask;
            }
            catch (DirectoryNotFoundException) when (attempt < 3)
            {
                // A sweep removed the hour's folder as it emptied: create it again.
            }
        }
    }

    public async IAsyncEnumerable<RetentionMarkSet> ListMarksAsync(RetentionKind kind, DateTimeOffset cutoff, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Root, RetentionFolder, RetentionMark.FolderOf(kind));
        if (!Directory.Exists(folder))
        {
            yield break;
        }

        // Hour folders first: only the hours up to the cutoff are read, whatever is marked after it.
        var lastHour = cutoff.UtcDateTime.ToString(HourFormat, CultureInfo.InvariantCulture);
        var hours = Directory.EnumerateDirectories(folder)
            .Select(Path.GetFileName)
            .Where(h => h is { Length: 10 } && string.CompareOrdinal(h, lastHour) <= 0)
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var hour in hours)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string[] names;
            try
            {
                names = [.. Directory.EnumerateFiles(Path.Combine(folder, hour!)).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];
            }
            catch (DirectoryNotFoundException)
            {
                continue; // emptied and removed by a concurrent sweep
            }

            foreach (var name in names)
            {
                var single = RetentionMarkSet.ParseName(kind, name, out var groupAt);
                if ((single?.At ?? groupAt) is not { } at)
                {
                    continue;
                }

                if (at > cutoff)
                {
                    yield break;
                }

                if (single is not null)
                {
                    yield return single;
                    continue;
                }

                byte[] content;
                try
                {
                    content = await File.ReadAllBytesAsync(Path.Combine(folder, hour!, name), cancellationToken);
                }
                catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
                {
                    continue; // removed by a concurrent sweep since the listing
                }

                yield return RetentionMarkSet.ReadGroup(kind, name, at, content);
            }

            await Task.Yield();
        }
    }

    public Task RemoveMarksAsync(RetentionMarkSet marks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(marks);
        cancellationToken.ThrowIfCancellationRequested();
        var path = MarkPath(marks);
        var hour = Path.GetDirectoryName(path)!;
        try
        {
            File.Delete(path);
            if (!Directory.EnumerateFileSystemEntries(hour).Any())
            {
                Directory.Delete(hour);
            }
        }
        catch (IOException)
        {
            // The hour's folder is gone (another sweep emptied it) or was marked again meanwhile.
        }

        return Task.CompletedTask;
    }

    private async Task WriteOnceAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        var now = _time.GetUtcNow();
        if (File.Exists(path) && TryTouch(path, now))
        {
            return; // Content-addressed: the same key holds the same bytes; saving it again is a use.
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + "." + Guid.NewGuid().ToString("N") + TempSuffix;
        try
        {
            await using (var stream = new FileStream(
                temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            File.SetLastWriteTimeUtc(temp, now.UtcDateTime);
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // A concurrent save of the same content won the move: its file is ours too.
            TryTouch(path, now);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static bool TryTouch(string path, DateTimeOffset at)
    {
        try
        {
            File.SetLastWriteTimeUtc(path, at.UtcDateTime);
            return true;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    private static bool TouchedAfter(string path, DateTimeOffset cutoff) => File.GetLastWriteTimeUtc(path) > cutoff.UtcDateTime;

    private string MarkPath(RetentionMarkSet marks) => Path.Combine(
        Root,
        RetentionFolder,
        RetentionMark.FolderOf(marks.Kind),
        marks.At.UtcDateTime.ToString(HourFormat, CultureInfo.InvariantCulture),
        marks.FileName);

    private string PathOf(string key)
    {
        ImageKeys.Validate(key);
        return Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar));
    }
}
