using OrleansDiffusion.Cluster.Tests.Azurite;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>
/// One Azurite for the whole test assembly: take it as a constructor parameter of any test class. Tests share it, so
/// each uses its own container (or table, or queue) name, and none stops it: a test that needs an outage starts its own
/// <see cref="AzuriteServer"/> with <see cref="AzuriteServer.StartNewAsync"/>.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteServer? _server;

    public AzuriteServer Server => _server ?? throw new InvalidOperationException("The Azurite fixture is not initialized.");

    /// <summary>Shared-key connection string with explicit blob, queue and table endpoints.</summary>
    public string ConnectionString => Server.ConnectionString;

    public async ValueTask InitializeAsync() =>
        _server = await AzuriteServer.StartNewAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
