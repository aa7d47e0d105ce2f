using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// The UNet's <see cref="OrtIoBinding"/> for one denoising loop. On the CPU every host buffer is bound once and read in
/// place. On a device ONNX Runtime copies a host input to device memory when it is bound, not when the graph runs, so a
/// buffer written after binding would go unseen: the step-invariant inputs (text embeddings, SDXL's pooled text and
/// time_ids, LCM's guidance embedding) are bound once, before the first run, when they have been written, and live in
/// device memory for the whole loop; the sample and timestep, which change every step, are rebound (one host-to-device
/// copy each) before every run. The output is bound to a host buffer: the UNet writes it in device memory and ONNX
/// Runtime copies it back once per run, the one transfer the host-side guidance and scheduler need.
/// </summary>
internal sealed class UNetBindings : IDisposable
{
    private readonly InferenceSession _session;
    private readonly UNetBindingMode _mode;
    private readonly OrtIoBinding _binding;
    private readonly Input[] _perStep;
    private readonly Input[] _invariant;
    private bool _invariantBound;

    /// <param name="perStep">Inputs written before every run (the sample and timestep).</param>
    /// <param name="invariant">Inputs written once, before the first run.</param>
    public UNetBindings(
        InferenceSession session,
        UNetBindingMode mode,
        IEnumerable<(string Name, TensorBuffer Buffer)> perStep,
        IEnumerable<(string Name, TensorBuffer Buffer)> invariant,
        string outputName,
        TensorBuffer output)
    {
        _session = session;
        _mode = mode;
        _perStep = [.. perStep.Select(i => new Input(i.Name, i.Buffer, mode))];
        _invariant = [.. invariant.Select(i => new Input(i.Name, i.Buffer, mode))];
        _binding = session.CreateIoBinding();
        if (mode == UNetBindingMode.Host)
        {
            foreach (var input in _perStep.Concat(_invariant))
            {
                _binding.BindInput(input.Name, input.Buffer.Value);
            }

            _invariantBound = true;
        }

        _binding.BindOutput(outputName, output.Value);
    }

    /// <summary>How many times an input has been bound since the loop began (for tests: invariant inputs once).</summary>
    internal int Binds { get; private set; }

    /// <summary>Runs the UNet on what its input buffers hold now, into the output buffer.</summary>
    public void Run(RunOptions runOptions)
    {
        if (_mode != UNetBindingMode.Host)
        {
            if (!_invariantBound)
            {
                Bind(_invariant);
                _invariantBound = true;
            }

            Bind(_perStep);
            if (_mode == UNetBindingMode.Device)
            {
                _binding.SynchronizeBoundInputs();
            }
        }

        _session.RunWithBinding(runOptions, _binding);
    }

    private void Bind(Input[] inputs)
    {
        foreach (var input in inputs)
        {
            _binding.BindInput(input.Name, input.Bound());
            Binds++;
        }
    }

    public void Dispose()
    {
        _binding.Dispose();
        foreach (var input in _perStep.Concat(_invariant))
        {
            input.Dispose();
        }
    }

    /// <summary>One bound input; with <see cref="UNetBindingMode.EmulatedDevice"/> a copy stands in for the device memory.</summary>
    private sealed class Input(string name, TensorBuffer buffer, UNetBindingMode mode) : IDisposable
    {
        private readonly OrtValue? _device = mode == UNetBindingMode.EmulatedDevice
            ? OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, buffer.ElementType, buffer.Shape)
            : null;

        public string Name { get; } = name;

        public TensorBuffer Buffer { get; } = buffer;

        /// <summary>The value to bind: the host buffer (ONNX Runtime copies it to the device), or a copy made now.</summary>
        public OrtValue Bound()
        {
            if (_device is null)
            {
                return Buffer.Value;
            }

            Buffer.Value.GetTensorMutableRawData().CopyTo(_device.GetTensorMutableRawData());
            return _device;
        }

        public void Dispose() => _device?.Dispose();
    }
}
