using System.Security.Cryptography;
using System.Text;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// A SHA-256 over a model folder's files (relative path, size and content), so that the request key changes when
/// the weights change. Files over <see cref="FullHashLimit"/> contribute their first and last mebibyte instead of
/// their whole content, which keeps a multi-gigabyte UNet from delaying the start by minutes.
/// </summary>
public static class ModelFingerprint
{
    public const long FullHashLimit = 64L << 20;
    private const int EdgeBytes = 1 << 20;

    public static string Compute(string root)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => (Full: f, Relative: Path.GetRelativePath(root, f).Replace('\\', '/')))
            .Where(f => !f.Relative.StartsWith('.'))
            .OrderBy(f => f.Relative, StringComparer.Ordinal);
        var buffer = new byte[EdgeBytes];
        foreach (var (full, relative) in files)
        {
            using var stream = File.OpenRead(full);
            hash.AppendData(Encoding.UTF8.GetBytes($"{relative}\n{stream.Length}\n"));
            if (stream.Length <= FullHashLimit)
            {
                int read;
                while ((read = stream.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                }
            }
            else
            {
                stream.ReadExactly(buffer);
                hash.AppendData(buffer);
                stream.Seek(-EdgeBytes, SeekOrigin.End);
                stream.ReadExactly(buffer);
                hash.AppendData(buffer);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
