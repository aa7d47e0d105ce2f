namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// The Orleans dashboard lists grains, reads their state and streams the log: no deployed process serves it unless an
/// operator turns it on (issue 10). A silo serves it unless <c>Diffusion:Cluster:Dashboard=false</c>; an API in
/// <c>Client</c> mode only with <c>Dashboard=true</c>.
/// </summary>
public sealed class DashboardExposureTests
{
    public static TheoryData<string> Processes() => new(Deployed().Select(p => p.Key));

    [Theory]
    [MemberData(nameof(Processes))]
    public void The_deployed_process_does_not_serve_the_dashboard(string process)
    {
        var env = Deployed().Single(p => p.Key == process).ToDictionary(s => s.Name, s => s.Value, StringComparer.OrdinalIgnoreCase);
        var client = string.Equals(env.GetValueOrDefault("Diffusion__Api__Mode"), "Client", StringComparison.OrdinalIgnoreCase);
        var serves = env.TryGetValue("Diffusion__Cluster__Dashboard", out var value) ? bool.Parse(value!) : !client;

        Assert.False(serves, $"{process} serves the Orleans dashboard");
    }

    [Fact]
    public void The_silos_and_the_api_are_all_checked()
    {
        var processes = Deployed().Select(p => p.Key).ToList();

        Assert.Contains("k8s diffusion-silo", processes);
        Assert.Contains("k8s diffusion-control", processes);
        Assert.Contains("k8s diffusion-api", processes);
        Assert.Contains("compose silo-1", processes);
        Assert.Contains("compose silo-2", processes);
        Assert.Contains("compose api", processes);
    }

    /// <summary>The Kubernetes Deployments and compose services that run our processes, with their settings.</summary>
    private static IEnumerable<IGrouping<string, Setting>> Deployed() =>
        Settings.Kubernetes().Concat(Settings.Compose())
            .GroupBy(s => s.Source)
            .Where(p => p.Any(s => s.Name.StartsWith("Diffusion__", StringComparison.Ordinal)));
}
