using Microsoft.Extensions.Caching.Memory;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace OrleansDiffusion.Api.Imaging;

/// <summary>
/// Stored images in the encoding a client asked for. The image store keeps one content-addressed PNG per image, which
/// the cache, the retention sweep and every other surface rely on; JPEG and WebP are made from it on the way out, here,
/// rather than stored under keys of their own that nothing would mark for retention or ever delete. A conversion is
/// kept in memory (<see cref="CacheBytes"/> in all, least recently used first out), so the URL that an OpenAI answer
/// names, fetched right after the answer or again, is served without encoding the image again. Conversions run at most
/// <see cref="MaxConcurrentConversions"/> at a time, so reads that ask for many formats and qualities of large images
/// can take no more than half the processors from the rest of the API.
/// </summary>
public sealed class ImageTranscoder(IImageStore images) : IDisposable
{
    /// <summary>The conversions kept in memory, in bytes: a hundred or so 1024 x 1024 JPEGs.</summary>
    public const long CacheBytes = 64L << 20;

    private static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(10);

    /// <summary>Half the processors, at least one.</summary>
    public static readonly int MaxConcurrentConversions = Math.Max(1, Environment.ProcessorCount / 2);

    private readonly MemoryCache _converted = new(new MemoryCacheOptions { SizeLimit = CacheBytes });
    private readonly SemaphoreSlim _converters = new(MaxConcurrentConversions);

    /// <summary>The stored image in <paramref name="encoding"/>; null when it is no longer stored.</summary>
    public async Task<byte[]?> ReadAsync(ImageRef image, ImageEncoding encoding, CancellationToken cancellationToken)
    {
        if (encoding.IsPng)
        {
            return await images.ReadAsync(image.Key, cancellationToken);
        }

        var cacheKey = (image.Key, encoding.Format, encoding.Quality);
        if (_converted.TryGetValue(cacheKey, out byte[]? converted) && converted is not null)
        {
            return converted;
        }

        if (await images.ReadAsync(image.Key, cancellationToken) is not { } png)
        {
            return null;
        }

        await _converters.WaitAsync(cancellationToken);
        try
        {
            converted = Encode(png, encoding, size: null);
        }
        finally
        {
            _converters.Release();
        }

        _converted.Set(cacheKey, converted, new MemoryCacheEntryOptions { Size = converted.Length, SlidingExpiration = CacheLifetime });
        return converted;
    }

    /// <summary>
    /// An image this service made (a stored PNG, a latent preview) in <paramref name="encoding"/>, scaled to
    /// <paramref name="size"/> when it is given and differs. Never call it with a client's upload.
    /// </summary>
    public static byte[] Encode(byte[] image, ImageEncoding encoding, (int Width, int Height)? size)
    {
        using var decoded = Image.Load<Rgb24>(image);
        if (size is { } target && (decoded.Width, decoded.Height) != target)
        {
            decoded.Mutate(x => x.Resize(target.Width, target.Height));
        }

        using var output = new MemoryStream();
        decoded.Save(output, encoding.Encoder());
        return output.ToArray();
    }

    public void Dispose()
    {
        _converted.Dispose();
        _converters.Dispose();
    }
}
