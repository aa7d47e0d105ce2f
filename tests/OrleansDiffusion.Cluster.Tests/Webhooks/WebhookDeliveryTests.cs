using OrleansDiffusion.Cluster.Tests.Cluster;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Cluster.Tests.Webhooks;

/// <summary>What a webhook grain delivers, and where it refuses to, on a real cluster with a real receiver.</summary>
public sealed class WebhookDeliveryTests
{
    [Fact]
    public async Task A_target_that_resolves_to_loopback_at_delivery_is_never_called()
    {
        // The API refuses such a target at submission; this is the sender's own check, after DNS resolution, as when a
        // public name is later pointed at a private address.
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Webhooks.AllowHttp = true;
            o.Webhooks.RetryDelay = TimeSpan.FromMilliseconds(100);
            o.Webhooks.MaxRetryDelay = TimeSpan.FromMilliseconds(100);
            o.Webhooks.MaxAttempts = 5;
        });
        try
        {
            var target = new UriBuilder(receiver.Url) { Host = "localhost" }.Uri.ToString();
            var (id, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("rebound", 1, steps: 2));
            var webhook = harness.Client.GetGrain<IWebhookGrain>(id);
            await webhook.Follow(new WebhookSubscription { Target = target, Secret = secret, BaseUrl = "https://api.example" });
            await harness.WaitAsync(id);

            // Each refused connection is an attempt: after the fifth the event is given up and the record deleted.
            await ClusterHarness.EventuallyAsync(async () => !(await webhook.GetStatus()).Following, TimeSpan.FromSeconds(10), "the event given up");
            Assert.Empty(receiver.Attempts);
        }
        finally
        {
            harness.DeleteRoot();
        }
    }

    [Fact]
    public async Task A_cancelled_job_sends_cancelled_and_a_cache_hit_sends_completed_alone()
    {
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        // A latent-heavy slow model: the 150-step job runs for seconds after its started event reaches the receiver,
        // however late a loaded machine delivers it, so the cancel always meets a running job.
        await using var harness = await ClusterHarness.StartAsync(1, o =>
        {
            o.Webhooks.AllowHttp = true;
            o.Webhooks.AllowPrivateTargets = true;
        }, root: ClusterHarness.CreateRoot(unetExtraConvLayers: 1500));
        try
        {
            var all = new WebhookSubscription
            {
                Target = receiver.Url,
                Secret = secret,
                BaseUrl = "https://api.example",
                Events = WebhookEvents.Queued | WebhookEvents.Started | WebhookEvents.Completed | WebhookEvents.Failed | WebhookEvents.Cancelled,
            };

            // A long job, cancelled once it runs.
            var (slow, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("cancelled", 1, steps: 150) with { Width = 512, Height = 512 });
            await harness.Client.GetGrain<IWebhookGrain>(slow).Follow(all);
            await receiver.WaitForAsync(a => a.Any(x => x.Type == "started"), TimeSpan.FromSeconds(60), "started event");
            await harness.Job(slow).Cancel();
            await receiver.WaitForAsync(a => a.Any(x => x.Type == "cancelled"), TimeSpan.FromSeconds(30), "cancelled event");

            // A finished request, asked again: answered from the cache, it was never queued nor started.
            var (first, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("cached", 2, steps: 2));
            await harness.WaitAsync(first);
            var (hit, snapshot) = await harness.SubmitAsync(ClusterHarness.SmallSpec("cached", 2, steps: 2));
            Assert.True(snapshot.Cached);
            await harness.Client.GetGrain<IWebhookGrain>(hit).Follow(all);
            await receiver.WaitForAsync(a => a.Any(x => x.JobId == hit), TimeSpan.FromSeconds(30), "the cache hit's event");
            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);

            Assert.All(receiver.Attempts, a => Assert.True(a.Verified && a.Accepted));
            Assert.Equal(["queued", "started", "cancelled"], receiver.Delivered.Where(a => a.JobId == slow).Select(a => a.Type));
            Assert.Equal("cancelled", receiver.Delivered.Single(a => a.JobId == slow && a.Type == "cancelled").Job.GetProperty("status").GetString());
            Assert.Equal(["completed"], receiver.Delivered.Where(a => a.JobId == hit).Select(a => a.Type));
            Assert.True(receiver.Delivered.Single(a => a.JobId == hit).Job.GetProperty("cached").GetBoolean());
        }
        finally
        {
            harness.DeleteRoot();
        }
    }
}
