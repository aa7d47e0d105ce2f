using System.Net;
using System.Net.Sockets;

namespace OrleansDiffusion.Api.Tests;

/// <summary>
/// The API on a real loopback port (Kestrel, not TestServer), for clients that run in another process: the SignalR JS
/// client under Node, and Chromium.
/// </summary>
public sealed class KestrelApi : IDisposable
{
    private KestrelApi(ApiFactory factory, Uri baseAddress)
    {
        Factory = factory;
        BaseAddress = baseAddress;
    }

    public ApiFactory Factory { get; }

    public Uri BaseAddress { get; }

    public static KestrelApi Start(Dictionary<string, string>? settings = null)
    {
        var factory = new ApiFactory(settings);
        var port = FreePort();
        factory.UseKestrel(port);
        factory.StartServer();
        return new KestrelApi(factory, new Uri($"http://127.0.0.1:{port}/"));
    }

    public HttpClient CreateClient() => new() { BaseAddress = BaseAddress };

    public void Dispose() => Factory.Dispose();

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
