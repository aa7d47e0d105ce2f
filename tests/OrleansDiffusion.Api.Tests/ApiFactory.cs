using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace OrleansDiffusion.Api.Tests;

/// <summary>
/// The API in-process with its co-hosted silo (zero-config: localhost clustering on free ports, memory state, images
/// on local disk, the demo model) and optional settings; deletes its folders on dispose.
/// </summary>
public sealed class ApiFactory : WebApplicationFactory<Program>
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "od-api-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly Dictionary<string, string> _settings;

    public ApiFactory(Dictionary<string, string>? settings = null)
    {
        _settings = settings ?? [];
    }

    public string ImagesDirectory => Path.Combine(_root, "images");

    /// <summary>A key configured by <see cref="WithKeys"/>.</summary>
    public const string AliceKey = "alice-secret-key";

    public const string BobKey = "bob-secret-key";

    public static Dictionary<string, string> WithKeys(Dictionary<string, string>? more = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Diffusion:Api:Keys:0:Name"] = "alice",
            ["Diffusion:Api:Keys:0:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(AliceKey),
            ["Diffusion:Api:Keys:1:Name"] = "bob",
            ["Diffusion:Api:Keys:1:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(BobKey),
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    public HttpClient CreateClient(string? bearer)
    {
        var client = CreateClient();
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var siloPort = FreePort().ToString(CultureInfo.InvariantCulture);
        builder.UseSetting("Diffusion:Cluster:SiloPort", siloPort);
        builder.UseSetting("Diffusion:Cluster:PrimarySiloPort", siloPort);
        builder.UseSetting("Diffusion:Cluster:GatewayPort", FreePort().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Diffusion:DemoModelDirectory", Path.Combine(_root, "demo-model"));
        builder.UseSetting("Diffusion:ImageStore:LocalRoot", ImagesDirectory);
        builder.UseSetting("Diffusion:PollInterval", "00:00:00.050");
        builder.UseSetting("Diffusion:IntraOpThreads", "1");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
