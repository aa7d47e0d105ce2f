using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Webhooks;

namespace OrleansDiffusion.Cluster.Tests.Webhooks;

/// <summary>Webhook deliveries outlive the silo that was making them (records in Azurite, resumed by the outbox).</summary>
public sealed class WebhookFailoverTests(AzuriteFixture azurite)
{
    private const WebhookEvents Asked = WebhookEvents.Queued | WebhookEvents.Started | WebhookEvents.Completed;

    [Fact]
    public async Task Deliveries_refused_until_their_silo_is_killed_arrive_from_another_silo_once_each_and_in_order()
    {
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        receiver.Refusing = true;
        await using var harness = await ClusterHarness.StartAsync(
            3,
            o =>
            {
                o.Webhooks.AllowPrivateTargets = true; // the receiver is on loopback
                o.Webhooks.AllowHttp = true;
                o.Webhooks.RetryDelay = TimeSpan.FromMilliseconds(200);
                o.Webhooks.MaxRetryDelay = TimeSpan.FromMilliseconds(400);
                o.Webhooks.MaxAttempts = 100;
                o.Webhooks.ResumeInterval = TimeSpan.FromSeconds(1);
            },
            azurite.ConnectionString,
            serviceId: "hooks-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var subscription = new WebhookSubscription { Target = receiver.Url, Events = Asked, Secret = secret, BaseUrl = "https://api.example" };
            var jobs = new List<Guid>();
            for (var i = 0; i < 8; i++)
            {
                var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec($"webhook {i}", seed: i, steps: 3));
                await harness.Client.GetGrain<IWebhookGrain>(id).Follow(subscription);
                jobs.Add(id);
            }

            foreach (var id in jobs)
            {
                Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(id)).Status);
            }

            // Every job's first event has been refused at least twice; kill a secondary silo that holds webhooks.
            await receiver.WaitForAsync(a => jobs.All(j => a.Count(x => x.JobId == j) >= 2), TimeSpan.FromSeconds(60), "two refused attempts per job");
            var hosts = new Dictionary<Guid, string>();
            foreach (var id in jobs)
            {
                hosts[id] = (await harness.Client.GetGrain<IWebhookGrain>(id).GetStatus()).Silo;
            }

            var victim = harness.Cluster.Silos.Skip(1).FirstOrDefault(s => hosts.ContainsValue(s.SiloAddress.ToString()));
            Assert.NotNull(victim); // 8 webhooks on 3 silos: the odds that none is on a secondary are (1/3)^8
            var moved = hosts.Where(h => h.Value == victim.SiloAddress.ToString()).Select(h => h.Key).ToList();
            await harness.Cluster.KillSiloAsync(victim, TestContext.Current.CancellationToken);
            var killedAt = DateTime.UtcNow;
            receiver.Refusing = false;

            await receiver.WaitForAsync(a => jobs.All(j => a.Any(x => x.JobId == j && x.Accepted && x.Type == "completed")), TimeSpan.FromSeconds(90), "completed delivery of every job");
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{moved.Count} webhooks moved; the last delivery came {(receiver.Delivered[^1].At - killedAt).TotalSeconds:F1} s after the kill");

            Assert.All(receiver.Attempts, a => Assert.True(a.Verified, $"attempt {a.Id} failed verification"));
            foreach (var id in jobs)
            {
                var delivered = receiver.Delivered.Where(a => a.JobId == id).ToList();
                Assert.Equal(["queued", "started", "completed"], delivered.Select(a => a.Type));
                Assert.Equal([$"msg_{id:N}_queued", $"msg_{id:N}_started", $"msg_{id:N}_completed"], delivered.Select(a => a.Id));
                Assert.Equal("succeeded", delivered[^1].Job.GetProperty("status").GetString());
                Assert.StartsWith($"https://api.example/v1/generations/{id}/images/0", delivered[^1].Job.GetProperty("images")[0].GetProperty("url").GetString());
            }

            // Every record is gone once its outcome is delivered.
            var store = harness.ActiveSilos.First().ServiceProvider.GetRequiredService<IWebhookStore>();
            await ClusterHarness.EventuallyAsync(
                async () => (await Task.WhenAll(Enumerable.Range(0, 4).Select(p => store.ListAsync(p, CancellationToken.None)))).All(l => l.Count == 0),
                TimeSpan.FromSeconds(10),
                "an empty webhook outbox");
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
