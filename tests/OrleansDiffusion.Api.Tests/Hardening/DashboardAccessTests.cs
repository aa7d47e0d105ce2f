using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace OrleansDiffusion.Api.Tests.Hardening;

/// <summary>
/// The Orleans dashboard lists grain ids, reads grain state and streams the log: with API keys only an admin key opens
/// it; an API in Client mode serves it only when asked to (issue 10).
/// </summary>
public sealed class DashboardAccessTests
{
    private const string CarolKey = "carol-admin-key";

    // The page itself, and what it reads from the cluster.
    private static readonly string[] Paths = ["/dashboard/", "/dashboard/DashboardCounters"];

    private static Dictionary<string, string> WithAdmin(Dictionary<string, string>? more = null)
    {
        var settings = ApiFactory.WithKeys(new()
        {
            ["Diffusion:Api:Keys:2:Name"] = "carol",
            ["Diffusion:Api:Keys:2:Sha256"] = Security.ApiKeyAuthenticationHandler.HashOf(CarolKey),
            ["Diffusion:Api:Keys:2:Admin"] = "true",
        });
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    [Fact]
    public async Task With_keys_the_dashboard_needs_an_admin_key()
    {
        using var factory = new ApiFactory(WithAdmin());

        await AssertAdminOnlyAsync(factory);
    }

    [Fact]
    public async Task In_client_mode_the_dashboard_is_off_unless_asked_for_and_then_needs_an_admin_key()
    {
        // A co-hosted API is the cluster (its silo collects for the dashboard); the others join it as gateway clients.
        var siloPort = ApiFactory.FreePort().ToString(CultureInfo.InvariantCulture);
        var gatewayPort = ApiFactory.FreePort().ToString(CultureInfo.InvariantCulture);
        using var cluster = new ApiFactory(WithAdmin(new()
        {
            ["Diffusion:Cluster:SiloPort"] = siloPort,
            ["Diffusion:Cluster:PrimarySiloPort"] = siloPort,
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
        }));
        using var started = cluster.CreateClient();
        using var quiet = new ApiFactory(WithAdmin(new() { ["Diffusion:Api:Mode"] = "Client", ["Diffusion:Cluster:GatewayPort"] = gatewayPort }));
        using var asked = new ApiFactory(WithAdmin(new()
        {
            ["Diffusion:Api:Mode"] = "Client",
            ["Diffusion:Cluster:GatewayPort"] = gatewayPort,
            ["Diffusion:Cluster:Dashboard"] = "true",
        }));

        using var admin = quiet.CreateClient(CarolKey);
        foreach (var path in Paths)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync(path, TestContext.Current.CancellationToken)).StatusCode);
        }

        await AssertAdminOnlyAsync(asked);
    }

    private static async Task AssertAdminOnlyAsync(ApiFactory factory)
    {
        using var anonymous = factory.CreateClient(bearer: null);
        using var bob = factory.CreateClient(ApiFactory.BobKey);
        using var carol = factory.CreateClient(CarolKey);
        using var browser = factory.CreateClient(bearer: null);
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + CarolKey)));
        var cancel = TestContext.Current.CancellationToken;

        foreach (var path in Paths)
        {
            var none = await anonymous.GetAsync(path, cancel);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            // A browser asks for the key itself when challenged with Basic, and then sends it with every dashboard request.
            Assert.Equal("Basic", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync(path, cancel)).StatusCode);

            var admitted = await carol.GetAsync(path, cancel);
            Assert.True(admitted.StatusCode == HttpStatusCode.OK, $"{path}: {admitted.StatusCode} {await admitted.Content.ReadAsStringAsync(cancel)}");
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync(path, cancel)).StatusCode);
        }

        Assert.Contains("Orleans Dashboard", await carol.GetStringAsync("/dashboard/", cancel), StringComparison.Ordinal);
    }
}
