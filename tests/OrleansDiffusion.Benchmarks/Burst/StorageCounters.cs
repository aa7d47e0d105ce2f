using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace OrleansDiffusion.Benchmarks.Burst;

/// <summary>The Azure storage service (Azurite port) a request went to.</summary>
internal enum StorageService
{
    Blob,
    Table,
    Queue,
}

/// <summary>
/// What the counting proxies saw: requests per storage service and HTTP method, and the request body bytes of writes
/// (PUT, POST, MERGE, PATCH, DELETE) per service. Thread-safe; a window is the difference of two snapshots.
/// </summary>
internal sealed class StorageCounters
{
    private readonly ConcurrentDictionary<(StorageService Service, string Method), StrongBox<long>> _requests = new();
    private readonly long[] _writeBytes = new long[Enum.GetValues<StorageService>().Length];

    /// <summary>Whether a request with this method writes, so that its body counts as bytes written.</summary>
    public static bool IsWrite(string method) => method is "PUT" or "POST" or "MERGE" or "PATCH" or "DELETE";

    public void CountRequest(StorageService service, string method) =>
        Interlocked.Increment(ref _requests.GetOrAdd((service, method), _ => new StrongBox<long>()).Value);

    public void CountWriteBytes(StorageService service, long bytes) => Interlocked.Add(ref _writeBytes[(int)service], bytes);

    public StorageCounts Snapshot() => new(
        _requests.ToDictionary(p => p.Key, p => Interlocked.Read(ref p.Value.Value)),
        [.. Enumerable.Range(0, _writeBytes.Length).Select(i => Interlocked.Read(ref _writeBytes[i]))]);
}

/// <summary>A snapshot of <see cref="StorageCounters"/>, or the difference of two (a window).</summary>
internal sealed record StorageCounts(IReadOnlyDictionary<(StorageService Service, string Method), long> Requests, IReadOnlyList<long> WriteBytes)
{
    public long TotalRequests => Requests.Values.Sum();

    public long RequestsTo(StorageService service) => Requests.Where(p => p.Key.Service == service).Sum(p => p.Value);

    public long WriteBytesTo(StorageService service) => WriteBytes[(int)service];

    /// <summary>What happened after <paramref name="earlier"/> was taken, up to this snapshot.</summary>
    public StorageCounts Minus(StorageCounts earlier) => new(
        Requests
            .Select(p => (p.Key, Count: p.Value - earlier.Requests.GetValueOrDefault(p.Key)))
            .Where(p => p.Count != 0)
            .ToDictionary(p => p.Key, p => p.Count),
        [.. WriteBytes.Select((bytes, i) => bytes - earlier.WriteBytes[i])]);
}
