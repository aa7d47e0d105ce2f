using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>Stops the silo at start on CUDA provider settings ONNX Runtime would refuse, with the keys named.</summary>
internal sealed class CudaProviderOptionsValidator : IValidateOptions<DiffusionOptions>
{
    public ValidateOptionsResult Validate(string? name, DiffusionOptions options)
    {
        var failures = options.Cuda.Validate();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
