using System.Security.Cryptography;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Security;

/// <summary>
/// Job ids the API can tell from made-up ones without asking the cluster. An id is still a Guid (16 bytes): 8 random
/// bytes, then the first 8 bytes of their HMAC-SHA256 under the cluster's job-id key (<see cref="IJobIdKeyGrain"/>).
/// An id that does not verify is answered as unknown before any grain is called, so guessing ids activates no job
/// grain, reads no storage and logs nothing; forging one takes about 2^64 tries. The key is read from the cluster once
/// per process (again after a failed read), so every API process of the cluster, however many and in whatever mode,
/// verifies the ids the others made. A job a client names itself (an <c>Idempotency-Key</c>, or the id of
/// <c>PUT /v1/generations/{id}</c>) gets an id derived from that name and the caller's key instead of random bytes
/// (<see cref="ForClientAsync"/>): the same name from the same key always reaches the same job grain, and another key's
/// same name reaches another job.
/// </summary>
public sealed class JobIds(IGrainFactory grains)
{
    private const int RandomBytes = 8;
    private const int TagBytes = 8;

    private readonly Lock _lock = new();
    private Task<byte[]>? _key;

    /// <summary>A new id, signed with the cluster's key.</summary>
    public async ValueTask<Guid> NewAsync()
    {
        var key = await KeyAsync();
        return Sign(key, RandomNumberGenerator.GetBytes(RandomBytes));
    }

    /// <summary>
    /// The id of the job that <paramref name="apiKey"/> names <paramref name="clientId"/>: its 8 "random" bytes are the
    /// first 8 of HMAC-SHA256(cluster key, "client" + key name + client id), so the id is stable, signed like any other,
    /// and tells nothing of the name.
    /// </summary>
    public async ValueTask<Guid> ForClientAsync(string apiKey, string clientId)
    {
        var key = await KeyAsync();
        var name = System.Text.Encoding.UTF8.GetBytes($"client\0{apiKey}\0{clientId}");
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, name, mac);
        return Sign(key, mac[..RandomBytes]);
    }

    /// <summary>Whether an API process of this cluster made <paramref name="id"/>.</summary>
    public async ValueTask<bool> IsGenuineAsync(Guid id) => Verify(await KeyAsync(), id);

    internal static Guid Sign(byte[] key, ReadOnlySpan<byte> random)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes + TagBytes];
        random.CopyTo(bytes);
        Tag(key, random, bytes[RandomBytes..]);
        return new Guid(bytes);
    }

    internal static bool Verify(byte[] key, Guid id)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes + TagBytes];
        id.TryWriteBytes(bytes);
        Span<byte> expected = stackalloc byte[TagBytes];
        Tag(key, bytes[..RandomBytes], expected);
        return CryptographicOperations.FixedTimeEquals(expected, bytes[RandomBytes..]);
    }

    private static void Tag(byte[] key, ReadOnlySpan<byte> random, Span<byte> tag)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, random, mac);
        mac[..TagBytes].CopyTo(tag);
    }

    private Task<byte[]> KeyAsync()
    {
        lock (_lock)
        {
            if (_key is null || _key.IsFaulted || _key.IsCanceled)
            {
                _key = grains.GetGrain<IJobIdKeyGrain>(0).GetKey();
            }

            return _key;
        }
    }
}
