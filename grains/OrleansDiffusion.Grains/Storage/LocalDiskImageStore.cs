using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// Images as files under <see cref="ImageStoreOptions.LocalRoot"/>: the zero-configuration store for one machine.
/// Each file is written to a temporary name beside its final one, flushed to disk and then moved into place, so a
/// reader never sees a partial image and a crash leaves at most a stray temporary file.
/// </summary>
public sealed class LocalDiskImageStore : IImageStore
{
    private const string TempSuffix = ".tmp";

    public LocalDiskImageStore(IOptions<ImageStoreOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Root = Path.GetFullPath(options.Value.LocalRoot);
    }

    /// <summary>The absolute root folder.</summary>
    public string Root { get; }

    public async Task<ImageRef> SaveImageAsync(byte[] png, long seed, int width, int height, CancellationToken cancellationToken)
    {
        ImageKeys.ThrowIfEmpty(png);
        var key = ImageKeys.ForImage(png);
        await WriteOnceAsync(key, png, cancellationToken);
        return new ImageRef(key, seed, width, height, png.LongLength);
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

    private async Task WriteOnceAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        if (File.Exists(path))
        {
            return; // Content-addressed: the same key holds the same bytes.
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

            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // A concurrent save of the same content won the move: its file is ours too.
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private string PathOf(string key)
    {
        ImageKeys.Validate(key);
        return Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar));
    }
}
