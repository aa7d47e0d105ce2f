using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using OrleansDiffusion.Grains.Workers;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>
/// One silo in this process, configured exactly as the silo executable configures itself (<c>AddDiffusionSilo</c> from
/// <c>Diffusion:*</c> settings) and talking to the others over real TCP. <see cref="KillAsync"/> stops it the way a
/// killed process stops: no graceful leave, no hand-back, no report.
/// </summary>
public sealed class TcpSilo : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _contentRoot;
    private bool _stopped;

    private TcpSilo(WebApplication app, string contentRoot, int siloPort, int gatewayPort)
    {
        _app = app;
        _contentRoot = contentRoot;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
    }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public SiloAddress Address => _app.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a silo with these settings (ports included) and returns once it has joined the cluster.</summary>
    public static async Task<TcpSilo> StartAsync(IReadOnlyDictionary<string, string?> settings, int siloPort, int gatewayPort, TimeSpan membershipProbe, CancellationToken cancellationToken)
    {
        // A content root of its own: the test folder holds the API's appsettings.json, which a silo must not read.
        var contentRoot = Path.Combine(Path.GetTempPath(), "od-silo-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(contentRoot);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = contentRoot, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Diffusion:Cluster:SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Diffusion:Cluster:Dashboard"] = "false",
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddDiffusionSilo();

        // Death is noticed after a few missed probes, as in production but sooner: the window in which a dead silo
        // is still a member is the one the API must ride out.
        builder.Services.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = membershipProbe;
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
        });
        var app = builder.Build();
        app.MapDiffusionSiloEndpoints();
        await app.StartAsync(cancellationToken);
        return new TcpSilo(app, contentRoot, siloPort, gatewayPort);
    }

    /// <summary>Stops the silo without a graceful stop, its runs first, as the death of its process would.</summary>
    public async Task KillAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _app.Services.GetRequiredService<InferenceRunner>().SimulateProcessDeath();
        try
        {
            await _app.StopAsync(new CancellationToken(canceled: true));
        }
        catch (OperationCanceledException)
        {
            // An ungraceful stop ends in a cancellation.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _app.StopAsync(timeout.Token);
            }
            catch (Exception)
            {
                // The test is over; what matters is that the silo is gone.
            }
        }

        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_contentRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
