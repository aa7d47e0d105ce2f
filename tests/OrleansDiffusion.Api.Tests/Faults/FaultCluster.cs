using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>
/// The service as <c>deploy/local/run-cluster.sh</c> runs it, in this process: its own Azurite holding the grain state
/// (so a test may stop it), silos over TCP (localhost clustering, the first one primary and the API's gateway) and the
/// API as an Orleans gateway client (<see cref="ApiFactory"/> in <c>Client</c> mode). Jobs run the demo model made slow
/// with extra UNet layers, so that they are still unfinished when a fault strikes.
/// </summary>
public sealed class FaultCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly List<TcpSilo> _silos = [];

    private FaultCluster(string root, AzuriteServer storage)
    {
        _root = root;
        Storage = storage;
    }

    public AzuriteServer Storage { get; }

    public IReadOnlyList<TcpSilo> Silos => _silos;

    public ApiFactory Api { get; private set; } = null!;

    /// <summary>The API's own Orleans client (the gateway client its endpoints use).</summary>
    public IClusterClient Client => Api.Services.GetRequiredService<IClusterClient>();

    public static async Task<FaultCluster> StartAsync(int silos, Dictionary<string, string>? apiSettings = null, int unetExtraConvLayers = 400, TimeSpan? membershipProbe = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var root = Path.Combine(Path.GetTempPath(), "od-faults-" + Guid.NewGuid().ToString("N")[..10]);
        DemoModelWriter.Write(Path.Combine(root, "model"), new DemoModelOptions { UNetExtraConvLayers = unetExtraConvLayers });
        var cluster = new FaultCluster(root, await AzuriteServer.StartNewAsync(cancellationToken));
        try
        {
            var serviceId = "faults-" + Guid.NewGuid().ToString("N")[..8];
            var shared = new Dictionary<string, string?>
            {
                ["Diffusion:Cluster:ClusterId"] = serviceId,
                ["Diffusion:Cluster:ServiceId"] = serviceId,
                ["Diffusion:Cluster:Clustering"] = "Localhost",
                ["Diffusion:ImageStore:LocalRoot"] = Path.Combine(root, "images"),
            };
            var silo = new Dictionary<string, string?>(shared)
            {
                ["Diffusion:Cluster:Storage"] = "AzureStorage",
                ["Diffusion:Cluster:ConnectionString"] = cluster.Storage.ConnectionString,
                ["Diffusion:Models:0:Id"] = "demo",
                ["Diffusion:Models:0:Path"] = Path.Combine(root, "model"),
                ["Diffusion:Capacity"] = "1",
                ["Diffusion:MaxBatchSize"] = "1",
                ["Diffusion:IntraOpThreads"] = "1",
                ["Diffusion:PollInterval"] = "00:00:00.200",
                ["Diffusion:LeaseDuration"] = "00:00:06",
                ["Diffusion:PreviewInterval"] = "2",
            };
            var primaryPort = ApiFactory.FreePort();
            silo["Diffusion:Cluster:PrimarySiloPort"] = Port(primaryPort);
            for (var i = 0; i < silos; i++)
            {
                var siloPort = i == 0 ? primaryPort : ApiFactory.FreePort();
                cluster._silos.Add(await TcpSilo.StartAsync(silo, siloPort, ApiFactory.FreePort(), membershipProbe ?? TimeSpan.FromSeconds(2), cancellationToken));
            }

            var api = new Dictionary<string, string>
            {
                ["Diffusion:Api:Mode"] = "Client",
                ["Diffusion:Cluster:GatewayPort"] = Port(cluster._silos[0].GatewayPort),
            };
            foreach (var (key, value) in shared)
            {
                api[key] = value!;
            }

            foreach (var (key, value) in apiSettings ?? [])
            {
                api[key] = value;
            }

            cluster.Api = new ApiFactory(api);
            _ = cluster.Api.Server; // start it now, not in the middle of a fault
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The silo the job's grain is active on, or null when it is not active anywhere.</summary>
    public async Task<TcpSilo?> SiloOfJobAsync(Guid id)
    {
        var address = await Client.GetGrain<IManagementGrain>(0).GetActivationAddress(Client.GetGrain<IGenerationJobGrain>(id));
        return _silos.FirstOrDefault(s => s.Address.Equals(address));
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        foreach (var silo in Enumerable.Reverse(_silos))
        {
            await silo.DisposeAsync();
        }

        await Storage.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}
