using System.Buffers;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>PNG bytes in a buffer rented from <see cref="ArrayPool{T}.Shared"/>, given back on <see cref="Dispose"/>.</summary>
public sealed class PooledPng : IDisposable
{
    private readonly int _length;
    private byte[]? _buffer;

    internal PooledPng(byte[] buffer, int length)
    {
        _buffer = buffer;
        _length = length;
    }

    /// <summary>The PNG; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(PooledPng))).AsMemory(0, _length);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
