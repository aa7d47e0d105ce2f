namespace OrleansDiffusion.Engine.Models;

/// <summary>How the denoising loop binds the UNet's inputs (see <c>UNetBindings</c>).</summary>
internal enum UNetBindingMode
{
    /// <summary>CPU: host buffers bound once; ONNX Runtime reads them in place at every run.</summary>
    Host,

    /// <summary>CUDA: ONNX Runtime copies a host input to the device when it is bound, so what changes is rebound.</summary>
    Device,

    /// <summary>The device protocol on CPU (tests): binding copies the buffer, as ONNX Runtime does for a device.</summary>
    EmulatedDevice,
}
