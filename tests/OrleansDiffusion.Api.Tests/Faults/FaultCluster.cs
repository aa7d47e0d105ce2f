using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>
/// The service as <c>deploy/local/run-cluster.sh</c> runs it: its own Azurite holding membership and grain state (so a
/// test may stop it), silos as processes of their own (so a test may kill one) and the API, in this process, as an
/// Orleans gateway client of all of them (<see cref="ApiFactory"/> in <c>Client</c> mode). Jobs run the demo model made
/// slow with extra UNet layers, so that they are still unfinished when a fault strikes.
/// </summary>
public sealed class FaultCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly List<SiloProcess> _silos = [];

    private FaultCluster(string root, AzuriteServer storage)
    {
        _root = root;
        Storage = storage;
    }

    public AzuriteServer Storage { get; }

    public IReadOnlyList<SiloProcess> Silos => _silos;

    public ApiFactory Api { get; private set; } = null!;

    /// <summary>The API's own Orleans client (the gateway client its endpoints use).</summary>
    public IClusterClient Client => Api.Services.GetRequiredService<IClusterClient>();

    public static async Task<FaultCluster> StartAsync(int silos, Dictionary<string, string>? apiSettings = null, int unetExtraConvLayers = 400)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var root = Path.Combine(Path.GetTempPath(), "od-faults-" + Guid.NewGuid().ToString("N")[..10]);
        DemoModelWriter.Write(Path.Combine(root, "model"), new DemoModelOptions { UNetExtraConvLayers = unetExtraConvLayers });
        var cluster = new FaultCluster(root, await AzuriteServer.StartNewAsync(cancellationToken));
        try
        {
            var serviceId = "faults-" + Guid.NewGuid().ToString("N")[..8];
            var shared = new Dictionary<string, string>
            {
                ["Diffusion:Cluster:ClusterId"] = serviceId,
                ["Diffusion:Cluster:ServiceId"] = serviceId,
                ["Diffusion:Cluster:Clustering"] = "AzureTable",
                ["Diffusion:Cluster:ConnectionString"] = cluster.Storage.ConnectionString,
                ["Diffusion:ImageStore:LocalRoot"] = Path.Combine(root, "images"),
            };
            var silo = new Dictionary<string, string>(shared)
            {
                ["Diffusion:Cluster:Storage"] = "AzureStorage",
                ["Diffusion:Models:0:Id"] = "demo",
                ["Diffusion:Models:0:Path"] = Path.Combine(root, "model"),
                ["Diffusion:Capacity"] = "1",
                ["Diffusion:MaxBatchSize"] = "1",
                ["Diffusion:IntraOpThreads"] = "1",
                ["Diffusion:PollInterval"] = "00:00:00.200",
                ["Diffusion:LeaseDuration"] = "00:00:10",
                ["Diffusion:PreviewInterval"] = "2",
            };
            cluster._silos.AddRange(await Task.WhenAll(Enumerable.Range(0, silos).Select(_ => SiloProcess.StartAsync(root, silo, cancellationToken))));

            var api = new Dictionary<string, string>(shared) { ["Diffusion:Api:Mode"] = "Client" };
            foreach (var (key, value) in apiSettings ?? [])
            {
                api[key] = value;
            }

            cluster.Api = new ApiFactory(api);
            _ = cluster.Api.Server; // started now, not in the middle of a fault
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The silo the job's grain is active on (by its silo port), or null when it is not active anywhere.</summary>
    public async Task<SiloProcess?> SiloOfJobAsync(Guid id)
    {
        var address = await Client.GetGrain<IManagementGrain>(0).GetActivationAddress(Client.GetGrain<IGenerationJobGrain>(id));
        return _silos.FirstOrDefault(s => s.SiloPort == address?.Endpoint.Port);
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        await Task.WhenAll(_silos.Select(s => s.DisposeAsync().AsTask()));
        await Storage.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
