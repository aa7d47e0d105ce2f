namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>Azurite started but did not come up (exited, or never listened): worth another try on other ports.</summary>
public sealed class AzuriteStartException(string message) : Exception(message);
