namespace OrleansDiffusion.Api.Hosting;

/// <summary>A grain call made for a request was not answered within <see cref="ApiOptions.ClusterCallTimeout"/> (a transient fault: 503).</summary>
public sealed class ClusterCallTimeoutException(string message) : TimeoutException(message);
