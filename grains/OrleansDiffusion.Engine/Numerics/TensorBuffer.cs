using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Numerics;

/// <summary>
/// A tensor whose managed memory is allocated once and handed to ONNX Runtime as an <see cref="OrtValue"/>,
/// in the element type the graph declares (float or float16 for activations; int32/int64 for ids and timesteps).
/// Values move in and out as float32 so that the arithmetic never depends on the export.
/// </summary>
internal sealed class TensorBuffer : IDisposable
{
    private readonly float[]? _float;
    private readonly Float16[]? _half;
    private readonly long[]? _long;
    private readonly int[]? _int;

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
            TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(_float = new float[Length], shape),
            TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(_half = new Float16[Length], shape),
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(_long = new long[Length], shape),
            TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(_int = new int[Length], shape),
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
        if (_float is not null)
        {
            var destination = _float.AsSpan(offset, source.Length);
            if (scale == 1f)
            {
                source.CopyTo(destination);
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(source, scale, destination);
            }

            return;
        }

        for (var i = 0; i < source.Length; i++)
        {
            var v = source[i] * scale;
            if (_half is not null)
            {
                _half[offset + i] = (Float16)v;
            }
            else if (_long is not null)
            {
                // numpy's astype(int64) truncates; so do the reference pipelines.
                _long[offset + i] = (long)v;
            }
            else
            {
                _int![offset + i] = (int)v;
            }
        }
    }

    /// <summary>Sets every element to <paramref name="value"/>.</summary>
    public void Fill(float value)
    {
        if (_float is not null)
        {
            _float.AsSpan().Fill(value);
        }
        else if (_half is not null)
        {
            _half.AsSpan().Fill((Float16)value);
        }
        else if (_long is not null)
        {
            _long.AsSpan().Fill((long)value);
        }
        else
        {
            _int!.AsSpan().Fill((int)value);
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
    public Span<float> Floats => _float ?? throw new InvalidOperationException($"The tensor holds {ElementType}, not float.");

    internal static void ReadFloat(ReadOnlySpan<Float16> source, int offset, Span<float> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)source[offset + i];
        }
    }

    public void Dispose() => Value.Dispose();
}
