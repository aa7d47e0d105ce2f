using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>
/// The two key shapes of the image store, derived from the SHA-256 of the content. Keys come back from clients
/// (URLs, job snapshots), so a store accepts only these shapes: nothing else can name a path or a blob.
/// </summary>
public static partial class ImageKeys
{
    public const string ImagePrefix = "images/";
    public const string InputPrefix = "inputs/";

    /// <summary><c>images/{sha256-hex}.png</c> for a generated PNG.</summary>
    public static string ForImage(ReadOnlySpan<byte> png) => ImagePrefix + Sha256Hex(png) + ".png";

    /// <summary><c>inputs/{sha256-hex}</c> for an uploaded init image.</summary>
    public static string ForInput(ReadOnlySpan<byte> bytes) => InputPrefix + Sha256Hex(bytes);

    public static bool IsImage(string key) => key.StartsWith(ImagePrefix, StringComparison.Ordinal);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="key"/> is one of the two shapes.</summary>
    public static void Validate(string key, [CallerArgumentExpression(nameof(key))] string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (!KeyPattern().IsMatch(key))
        {
            throw new ArgumentException(
                $"'{key}' is not an image store key: expected images/{{sha256}}.png or inputs/{{sha256}} (lower-case hex).",
                paramName);
        }
    }

    /// <summary>Throws unless there is content to store.</summary>
    public static void ThrowIfEmpty(byte[] content, [CallerArgumentExpression(nameof(content))] string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(content, paramName);
        ThrowIfEmpty(content.AsMemory(), paramName);
    }

    public static void ThrowIfEmpty(ReadOnlyMemory<byte> content, [CallerArgumentExpression(nameof(content))] string? paramName = null)
    {
        if (content.Length == 0)
        {
            throw new ArgumentException("An image store does not store empty content.", paramName);
        }
    }

    private static string Sha256Hex(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    // \z rather than $: $ also matches before a trailing newline.
    [GeneratedRegex(@"\A(images/[0-9a-f]{64}\.png|inputs/[0-9a-f]{64})\z", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();
}
