using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Api.Scaling;

/// <summary>
/// Serves <see cref="KedaExternalScaler"/> on its own cleartext HTTP/2 listener (<see cref="ScalerOptions.Url"/>):
/// KEDA speaks h2c, which Kestrel cannot offer on the API's HTTP/1.1 port without TLS. Uses the API's cluster client.
/// </summary>
public sealed class ScalerServer(IOptions<ScalerOptions> options, IGrainFactory grains, ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    /// <summary>The address it listens on once started (the real port when the configured one is 0).</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls(options.Value.Url!);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddSingleton(grains);
        builder.Services.AddSingleton(options);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<KedaExternalScaler>();
        await app.StartAsync(cancellationToken);
        _app = app;
        Address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
