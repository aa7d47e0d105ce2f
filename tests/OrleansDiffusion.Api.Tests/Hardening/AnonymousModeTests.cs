using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace OrleansDiffusion.Api.Tests.Hardening;

/// <summary>
/// Without API keys every caller is trusted, so the API serves only this machine: it stops when the server it started
/// listens beyond loopback, however that was configured, and it answers only loopback host names (issue 10).
/// </summary>
public sealed class AnonymousModeTests
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Without_keys_a_Kestrel_endpoint_beyond_loopback_stops_the_host_with_a_logged_error()
    {
        var port = ApiFactory.FreePort();

        await AssertStopsAsync(new() { ["Kestrel:Endpoints:Open:Url"] = $"http://0.0.0.0:{port}" }, port);
    }

    [Fact]
    public async Task Without_keys_HTTP_PORTS_stops_the_host_with_a_logged_error()
    {
        // HTTP_PORTS (ASPNETCORE_HTTP_PORTS, as .NET container images set it) binds every interface when no urls are set.
        var port = ApiFactory.FreePort();

        await AssertStopsAsync(new() { ["urls"] = "", ["http_ports"] = port.ToString(CultureInfo.InvariantCulture) }, port);
    }

    [Fact]
    public async Task Without_keys_loopback_endpoints_serve_anonymously()
    {
        var port = ApiFactory.FreePort();
        var other = ApiFactory.FreePort();
        using var factory = new ApiFactory(new()
        {
            ["Kestrel:Endpoints:Name:Url"] = $"http://localhost:{port}",
            ["Kestrel:Endpoints:Address:Url"] = $"http://127.0.0.1:{other}",
        });
        factory.UseKestrel();
        factory.StartServer();
        using var http = new HttpClient();

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://localhost:{port}/v1/models", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{other}/v1/models", TestContext.Current.CancellationToken)).StatusCode);
        Assert.False(factory.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested);
    }

    [Fact]
    public async Task With_keys_any_address_serves()
    {
        var port = ApiFactory.FreePort();
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Kestrel:Endpoints:Open:Url"] = $"http://0.0.0.0:{port}" }));
        factory.UseKestrel();
        factory.StartServer();
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", ApiFactory.AliceKey);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/v1/models", TestContext.Current.CancellationToken)).StatusCode);
        Assert.False(factory.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested);
    }

    [Fact]
    public async Task Without_keys_only_loopback_host_names_are_answered()
    {
        using var factory = new ApiFactory();
        using var http = factory.CreateClient();

        // A page on evil.example whose name was rebound to 127.0.0.1 sends its own name as the Host.
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(http, "evil.example")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(http, "evil.example:8080")).StatusCode);
        foreach (var host in new[] { "localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080" })
        {
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, host)).StatusCode);
        }
    }

    [Fact]
    public async Task Configured_allowed_hosts_win_over_the_anonymous_default_and_keys_leave_them_as_configured()
    {
        using var configured = new ApiFactory(new() { ["AllowedHosts"] = "evil.example;localhost" });
        using var anonymous = configured.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous, "evil.example")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(anonymous, "127.0.0.1")).StatusCode);

        using var keyed = new ApiFactory(ApiFactory.WithKeys());
        using var alice = keyed.CreateClient(ApiFactory.AliceKey);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(alice, "api.example.com")).StatusCode);
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient http, string host)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Host = host;
        return http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary>Starts the API on a real Kestrel without keys and expects it to stop at once, saying why.</summary>
    private static async Task AssertStopsAsync(Dictionary<string, string> settings, int port)
    {
        var logs = new LogRecorder();
        using var root = new ApiFactory(settings);
        using var factory = root.WithWebHostBuilder(web => web.ConfigureLogging(logging => logging.AddProvider(logs)));
        factory.UseKestrel();
        factory.StartServer();

        var stopped = new TaskCompletionSource();
        factory.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(() => stopped.TrySetResult());
        await stopped.Task.WaitAsync(StopTimeout, TestContext.Current.CancellationToken);

        var error = Assert.Single(logs.Entries, e => e.Level == LogLevel.Critical);
        Assert.Contains("Anonymous access is only allowed on loopback", error.Message, StringComparison.Ordinal);
        Assert.Contains($":{port}", error.Message, StringComparison.Ordinal);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/v1/models", TestContext.Current.CancellationToken));
    }
}
