using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Api.Scaling;
using OrleansDiffusion.Api.Scaling.Keda;

namespace OrleansDiffusion.Api.Tests.Scaling;

/// <summary>KEDA's side of the scaler: a gRPC client over a real cleartext HTTP/2 connection to the API's scaler port.</summary>
public sealed class KedaScalerTests : IDisposable
{
    private readonly ApiFactory _factory = new(new Dictionary<string, string>
    {
        ["Diffusion:Scaler:Url"] = "http://127.0.0.1:0",
        ["Diffusion:Scaler:StreamInterval"] = "00:00:00.100",
        // Scale to zero as soon as the cluster is idle, and follow the work down at once.
        ["Diffusion:Scaling:MinSilos"] = "0",
        ["Diffusion:Scaling:ScaleToZeroAfter"] = "00:00:00",
        ["Diffusion:Scaling:ScaleInDelay"] = "00:00:00",
        // One 512 x 512 100-step job per silo (the signal counts units: images x steps x pixels / 512^2).
        ["Diffusion:Scaling:WorkPerSilo"] = "100",
    });

    public void Dispose() => _factory.Dispose();

    private static ScaledObjectRef Ref => new() { Name = "silo", Namespace = "orleans-diffusion" };

    [Fact]
    public async Task The_scaler_wakes_on_work_reports_the_silos_wanted_and_goes_back_to_zero()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var http = _factory.CreateClient();
        var address = _factory.Services.GetRequiredService<ScalerServer>().Address!;
        using var channel = GrpcChannel.ForAddress(address);
        var scaler = new ExternalScaler.ExternalScalerClient(channel);

        var spec = (await scaler.GetMetricSpecAsync(Ref, cancellationToken: cancel)).MetricSpecs.Single();
        Assert.Equal(("diffusion_desired_silos", 1L, 1.0), (spec.MetricName, spec.TargetSize, spec.TargetSizeFloat));
        Assert.False((await scaler.IsActiveAsync(Ref, cancellationToken: cancel)).Result);
        Assert.Equal(0, await DesiredAsync(scaler));

        using var stream = scaler.StreamIsActive(Ref, cancellationToken: cancel);
        Assert.False(await NextAsync(stream));

        // Eight slow distinct jobs on a silo that runs one at a time: the cluster wants more silos.
        var locations = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var response = await http.PostAsJsonAsync("/v1/generations", new { prompt = $"scale {i}", seed = i, steps = 100, width = 512, height = 512 }, cancel);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            locations.Add(response.Headers.Location!.ToString());
        }

        Assert.True(await NextAsync(stream));
        var desired = await DesiredAsync(scaler);
        Assert.InRange(desired, 2, 8);
        Assert.True((await scaler.IsActiveAsync(Ref, cancellationToken: cancel)).Result);
        var metrics = await http.GetStringAsync("/metrics", cancel);
        Assert.Contains("diffusion_desired_silos", metrics, StringComparison.Ordinal);

        foreach (var location in locations)
        {
            await WaitSucceededAsync(http, location);
        }

        // Idle again: the stream pushes inactive and the metric drops to zero.
        Assert.False(await NextAsync(stream));
        Assert.Equal(0, await DesiredAsync(scaler));
    }

    [Fact]
    public async Task One_huge_request_asks_for_the_silos_its_units_need_not_for_one()
    {
        var cancel = TestContext.Current.CancellationToken;
        // Nothing runs; the default work per silo (Capacity 0 counts as one slot: 20 units).
        using var factory = new ApiFactory(new Dictionary<string, string>
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:Scaler:Url"] = "http://127.0.0.1:0",
            ["Diffusion:Scaling:ScaleInDelay"] = "00:00:00",
        });
        using var http = factory.CreateClient();
        using var channel = GrpcChannel.ForAddress(factory.Services.GetRequiredService<ScalerServer>().Address!);
        var scaler = new ExternalScaler.ExternalScalerClient(channel);

        // A default request (512 x 512, 20 steps): 20 units, one silo.
        var small = await http.PostAsJsonAsync("/v1/generations", new { prompt = "small", seed = 1 }, cancel);
        Assert.Equal(HttpStatusCode.Accepted, small.StatusCode);
        Assert.Equal(1, await DesiredAsync(scaler));

        // 4 images x 30 steps at 512 x 512: 120 units, though it is one request. 140 units in all: seven silos.
        var big = await http.PostAsJsonAsync("/v1/generations", new { prompt = "big", seed = 2, n = 4, steps = 30 }, cancel);
        Assert.Equal(HttpStatusCode.Accepted, big.StatusCode);
        Assert.Equal(7, await DesiredAsync(scaler));
    }

    [Fact]
    public async Task Without_a_configured_url_no_scaler_is_served()
    {
        using var factory = new ApiFactory();
        using var http = factory.CreateClient();

        Assert.Null(factory.Services.GetService<ScalerServer>());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
    }

    private static async Task<long> DesiredAsync(ExternalScaler.ExternalScalerClient scaler)
    {
        var response = await scaler.GetMetricsAsync(new GetMetricsRequest { ScaledObjectRef = Ref, MetricName = "diffusion_desired_silos" }, cancellationToken: TestContext.Current.CancellationToken);
        var value = response.MetricValues.Single();
        Assert.Equal("diffusion_desired_silos", value.MetricName);
        Assert.Equal(value.MetricValue_, (long)value.MetricValueFloat);
        return value.MetricValue_;
    }

    private static async Task<bool> NextAsync(AsyncServerStreamingCall<IsActiveResponse> stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        Assert.True(await stream.ResponseStream.MoveNext(timeout.Token), "the stream ended");
        return stream.ResponseStream.Current.Result;
    }

    private static async Task WaitSucceededAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(180);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, TestContext.Current.CancellationToken);
            var status = job.GetProperty("status").GetString();
            if (status is "succeeded" or "failed" or "cancelled")
            {
                Assert.Equal("succeeded", status);
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{location} still {status}");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
