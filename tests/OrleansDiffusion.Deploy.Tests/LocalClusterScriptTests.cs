using System.Net;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// <c>deploy/local/run-cluster.sh</c> with real processes (issue 10): a silo that dies leaves the rest serving, comes back
/// with <c>RESTART=1</c>, and SIGTERM stops everything the script started.
/// </summary>
public sealed class LocalClusterScriptTests
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_killed_silo_leaves_the_others_serving_and_SIGTERM_stops_everything()
    {
        await using var run = await LocalClusterRun.StartAsync(restart: false);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var pids = run.Pids();
        Assert.Equal(["api", "azurite", "silo-1", "silo-2"], pids.Keys.Order(StringComparer.Ordinal));

        LocalClusterRun.Kill(pids["silo-2"]);
        await run.WaitForOutputAsync($"silo-2 (pid {pids["silo-2"]}) exited", TimeSpan.FromSeconds(30));

        // The others keep running and serving: the script, the API, the other silo and Azurite; a request for work is
        // still answered once the cluster has noticed the death.
        await Task.Delay(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.False(run.HasExited, run.Output);
        Assert.All(new[] { "api", "azurite", "silo-1" }, name => Assert.True(LocalClusterRun.IsRunning(pids[name]), $"{name} stopped:\n{run.Output}"));
        Assert.False(LocalClusterRun.IsRunning(pids["silo-2"]));
        Assert.DoesNotContain("silo-2", run.Pids().Keys);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(Url(run, "SILO1_HTTP_PORT", "/health/live"), TestContext.Current.CancellationToken)).StatusCode);
        await EventuallyOkAsync(http, Url(run, "API_HTTP_PORT", "/v1/models"), TimeSpan.FromMinutes(2));

        await StopAndCheckNothingIsLeftAsync(run);
    }

    [Fact]
    public async Task With_RESTART_a_killed_silo_comes_back()
    {
        await using var run = await LocalClusterRun.StartAsync(restart: true);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var killed = run.Pids()["silo-2"];

        LocalClusterRun.Kill(killed);
        await run.WaitForOutputAsync($"silo-2 (pid {killed}) exited", TimeSpan.FromSeconds(30));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (run.Pids().GetValueOrDefault("silo-2") is var again && (again == 0 || again == killed))
        {
            Assert.True(DateTime.UtcNow < deadline, "silo-2 was not started again:\n" + run.Output);
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }

        // A new silo-2 process, which joins the cluster and reports ready on its port.
        await EventuallyOkAsync(http, Url(run, "SILO2_HTTP_PORT", "/health/ready"), TimeSpan.FromMinutes(3));
        Assert.True(LocalClusterRun.IsRunning(run.Pids()["silo-2"]));
        Assert.False(LocalClusterRun.IsRunning(killed));

        await StopAndCheckNothingIsLeftAsync(run);
    }

    /// <summary>SIGTERM to the script: it stops every process it started, old and restarted, then exits itself.</summary>
    private static async Task StopAndCheckNothingIsLeftAsync(LocalClusterRun run)
    {
        var started = run.AllPids();
        run.Terminate();
        Assert.True(await run.WaitForExitAsync(StopTimeout), "run-cluster.sh did not stop on SIGTERM:\n" + run.Output);
        Assert.Equal(143, run.ExitCode);
        Assert.All(started, pid => Assert.False(LocalClusterRun.IsRunning(pid), $"pid {pid} left running:\n{run.Output}"));
        Assert.False(File.Exists(Path.Combine(run.RunDirectory, "pids")));
    }

    private static string Url(LocalClusterRun run, string port, string path) => $"http://127.0.0.1:{run.Ports[port]}{path}";

    private static async Task EventuallyOkAsync(HttpClient http, string url, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(url, TestContext.Current.CancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }

            await Task.Delay(500, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"{url} did not answer 200 within {timeout} (last: {last})");
    }
}
