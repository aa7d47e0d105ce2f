using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>
/// Lets exceptions of the libraries the Orleans runtime itself throws cross the wire as themselves. Orleans serializes
/// exceptions only from the namespaces it is told of; the runtime times out some of its own calls with Polly (while a
/// silo is unreachable), and a <c>Polly.Timeout.TimeoutRejectedException</c> it could not serialize reached the caller
/// as a <see cref="CodecNotFoundException"/> that said nothing of the cause, so the API could not tell it for the
/// transient fault it is. Silos and clients both register it: one writes the exception, the other reads it.
/// </summary>
public static class RuntimeExceptionSerialization
{
    /// <summary>The namespace of the runtime's resilience library.</summary>
    public const string PollyNamespace = "Polly";

    public static IServiceCollection AddRuntimeExceptionSerialization(this IServiceCollection services) =>
        services.Configure<ExceptionSerializationOptions>(o =>
        {
            if (!o.SupportedNamespacePrefixes.Contains(PollyNamespace))
            {
                o.SupportedNamespacePrefixes.Add(PollyNamespace);
            }
        });
}
