using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// A tensor whose managed memory is rented from <see cref="ArrayPool{T}.Shared"/> and handed to ONNX Runtime as an
/// <see cref="OrtValue"/>, in the element type the graph declares (float or float16 for activations; int32/int64 for
/// ids and timesteps). Values move in and out as float32 so that the arithmetic never depends on the export. The memory
/// goes back to the pool on <see cref="Dispose"/>, so a job's buffers serve the next job instead of becoming garbage
/// (a 512x512 image's VAE output alone is 3 MiB, on the large-object heap).
/// </summary>
internal sealed class TensorBuffer : IDisposable
{
    private readonly float[]? _float;
    private readonly Float16[]? _half;
    private readonly long[]? _long;
    private readonly int[]? _int;
    private int _disposed;

    public TensorBuffer(TensorElementType type, long[] shape)
    {
        ElementType = type;
        Shape = shape;
        var length = 1L;
        foreach (var d in shape)
        {
            length *= d;
        }

        Length = checked((int)length);
        Value = type switch
        {
            TensorElementType.Float => Create(out _float, shape),
            TensorElementType.Float16 => Create(out _half, shape),
            TensorElementType.Int64 => Create(out _long, shape),
            TensorElementType.Int32 => Create(out _int, shape),
            _ => throw new NotSupportedException($"Tensor element type {type} is not supported."),
        };
    }

    public TensorElementType ElementType { get; }

    public long[] Shape { get; }

    public int Length { get; }

    public OrtValue Value { get; }

    /// <summary>Writes <c>source * scale</c> at <paramref name="offset"/>, converting to the element type.</summary>
    public void Write(int offset, ReadOnlySpan<float> source, float scale = 1f)
    {
        switch (ElementType)
        {
            case TensorElementType.Float:
                var destination = _float.AsSpan(offset, source.Length);
                if (scale == 1f)
                {
                    source.CopyTo(destination);
                }
                else
                {
                    System.Numerics.Tensors.TensorPrimitives.Multiply(source, scale, destination);
                }

                break;
            case TensorElementType.Float16:
                HalfConversion.ToHalf(source, scale, _half.AsSpan(offset, source.Length));
                break;
            case TensorElementType.Int64:
                var longs = _long.AsSpan(offset, source.Length);
                for (var i = 0; i < source.Length; i++)
                {
                    // numpy's astype(int64) truncates; so do the reference pipelines.
                    longs[i] = (long)(source[i] * scale);
                }

                break;
            default:
                var ints = _int.AsSpan(offset, source.Length);
                for (var i = 0; i < source.Length; i++)
                {
                    ints[i] = (int)(source[i] * scale);
                }

                break;
        }
    }

    /// <summary>Copies <paramref name="length"/> elements from <paramref name="from"/> to <paramref name="to"/>, as they are.</summary>
    public void CopyWithin(int from, int to, int length)
    {
        switch (ElementType)
        {
            case TensorElementType.Float:
                _float.AsSpan(from, length).CopyTo(_float.AsSpan(to, length));
                break;
            case TensorElementType.Float16:
                _half.AsSpan(from, length).CopyTo(_half.AsSpan(to, length));
                break;
            case TensorElementType.Int64:
                _long.AsSpan(from, length).CopyTo(_long.AsSpan(to, length));
                break;
            default:
                _int.AsSpan(from, length).CopyTo(_int.AsSpan(to, length));
                break;
        }
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(float value)
    {
        if (_float is not null)
        {
            Floats.Fill(value);
        }
        else if (_half is not null)
        {
            _half.AsSpan(0, Length).Fill((Float16)value);
        }
        else if (_long is not null)
        {
            _long.AsSpan(0, Length).Fill((long)value);
        }
        else
        {
            _int.AsSpan(0, Length).Fill((int)value);
        }
    }

    /// <summary>Writes integer ids (token ids) at <paramref name="offset"/>.</summary>
    public void WriteIds(int offset, ReadOnlySpan<int> ids)
    {
        if (_int is not null)
        {
            ids.CopyTo(_int.AsSpan(offset));
        }
        else if (_long is not null)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                _long[offset + i] = ids[i];
            }
        }
        else
        {
            throw new InvalidOperationException($"Ids cannot be written into a {ElementType} tensor.");
        }
    }

    /// <summary>Reads <paramref name="destination"/>.Length values from <paramref name="offset"/> as float32.</summary>
    public void Read(int offset, Span<float> destination)
    {
        if (_float is not null)
        {
            _float.AsSpan(offset, destination.Length).CopyTo(destination);
            return;
        }

        ReadFloat(_half ?? throw new InvalidOperationException($"A {ElementType} tensor holds no floats."), offset, destination);
    }

    /// <summary>The float32 memory, when the element type is float.</summary>
    public Span<float> Floats => _float is null
        ? throw new InvalidOperationException($"The tensor holds {ElementType}, not float.")
        : _float.AsSpan(0, Length);

    /// <summary>The float16 memory, as <see cref="Half"/>, when the element type is float16.</summary>
    public ReadOnlySpan<Half> Halves => _half is null
        ? throw new InvalidOperationException($"The tensor holds {ElementType}, not float16.")
        : System.Runtime.InteropServices.MemoryMarshal.Cast<Float16, Half>(_half.AsSpan(0, Length));

    internal static void ReadFloat(ReadOnlySpan<Float16> source, int offset, Span<float> destination) =>
        HalfConversion.ToSingle(source.Slice(offset, destination.Length), destination);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // ONNX Runtime lets go of the memory first; then it can serve another tensor.
        Value.Dispose();
        Return(_float);
        Return(_half);
        Return(_long);
        Return(_int);
    }

    private OrtValue Create<T>(out T[] array, long[] shape)
        where T : unmanaged
    {
        array = ArrayPool<T>.Shared.Rent(Length);

        // A rented array holds what its last user left; a tensor starts at zero, as a new one would.
        array.AsSpan(0, Length).Clear();
        return OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, array.AsMemory(0, Length), shape);
    }

    private static void Return<T>(T[]? array)
    {
        if (array is not null)
        {
            ArrayPool<T>.Shared.Return(array);
        }
    }
}
