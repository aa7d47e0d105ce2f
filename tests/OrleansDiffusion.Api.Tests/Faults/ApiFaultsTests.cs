using System.Net.Sockets;
using Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Messaging;
using Orleans.Serialization;
using OrleansDiffusion.Hosting;
using Polly.Timeout;
using Orleans.Storage;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>The one classification every API surface answers by (the fault tests see it end to end).</summary>
public sealed class ApiFaultsTests
{
    // As Azure storage fails when it is away: the SDK's retries give up with an AggregateException of network failures.
    private static Exception StorageAway() => new AggregateException(
        "Retry failed after 4 tries.",
        new RequestFailedException("Connection refused (127.0.0.1:10002)", new HttpRequestException("Connection refused", new SocketException(111))));

    public static TheoryData<string, Exception> TransientFaults() => new()
    {
        { "a silo that is gone", new SiloUnavailableException() },
        { "a message to a silo that is gone", new SiloUnavailableException("The target silo became unavailable for message.") },
        { "a gateway too busy", new GatewayTooBusyException() },
        { "a connection that failed", new ConnectionFailedException("Unable to connect to 127.0.0.1:11112") },
        { "Orleans' response timeout", new TimeoutException("Response did not arrive on time in 00:00:30") },
        { "our own time limit", new ClusterCallTimeoutException("The cluster did not answer within 5 s.") },
        { "storage away", StorageAway() },
        { "storage away, met while activating a grain", new OrleansException("Error from storage provider during ReadStateAsync", StorageAway()) },
        { "storage failing", new RequestFailedException(503, "Server busy") },
        { "storage throttling", new RequestFailedException(429, "Too many requests") },
        { "storage timing out", new RequestFailedException(408, "Timeout") },
        { "a time-out inside a client library", new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout") },
    };

    [Fact]
    public void The_image_store_after_its_retries_is_a_503_that_names_storage()
    {
        var exception = new ImageStoreUnavailableException("Image storage did not answer.");
        var fault = ApiFaults.Classify(exception);

        Assert.NotNull(fault);
        Assert.Equal((503, "storage_unavailable"), (fault.StatusCode, fault.Code));
        Assert.True(fault.RetryAfterSeconds > 0);
        Assert.True(ApiFaults.IsTransient(exception));
    }

    [Theory]
    [MemberData(nameof(TransientFaults))]
    public void Transient_faults_are_503_with_Retry_After(string what, Exception exception)
    {
        var fault = ApiFaults.Classify(exception);

        Assert.True(fault is not null, what);
        Assert.Equal(503, fault.StatusCode);
        Assert.Equal("service_unavailable", fault.Code);
        Assert.Equal(ApiFaults.TransientRetryAfterSeconds, fault.RetryAfterSeconds);
        Assert.DoesNotContain("127.0.0.1", fault.Message, StringComparison.Ordinal); // no internals for clients
        Assert.True(ApiFaults.IsTransient(exception));
    }

    [Fact]
    public void A_concurrent_change_is_a_conflict_not_a_transient_fault()
    {
        var direct = ApiFaults.Classify(new InconsistentStateException("ETag mismatch", "1", "2"));
        var wrapped = ApiFaults.Classify(new OrleansException("Error from storage provider during WriteStateAsync", new InconsistentStateException("ETag mismatch", "1", "2")));

        Assert.Equal((409, "conflict", (int?)null), (direct!.StatusCode, direct.Code, direct.RetryAfterSeconds));
        Assert.Equal(409, wrapped!.StatusCode);
    }

    [Fact]
    public void The_clients_own_mistakes_and_limits_keep_their_answers()
    {
        Assert.Equal(400, ApiFaults.Classify(new ArgumentException("Job exists with another request."))!.StatusCode);
        Assert.Equal(413, ApiFaults.Classify(new InvalidImageException(InvalidImageReason.TooLarge, "Too large."))!.StatusCode);
        Assert.Equal(400, ApiFaults.Classify(new InvalidImageException(InvalidImageReason.UnknownFormat, "Not an image."))!.StatusCode);
        Assert.Equal((429, (int?)5), (ApiFaults.Classify(new QuotaExceededException("8 jobs."))!.StatusCode, ApiFaults.Classify(new QuotaExceededException("8 jobs."))!.RetryAfterSeconds));
        Assert.Equal(("queue_full", (int?)10), (ApiFaults.Classify(new QueueFullException("Full."))!.Code, ApiFaults.Classify(new QueueFullException("Full."))!.RetryAfterSeconds));
    }

    [Fact]
    public void Storage_refusing_the_request_itself_and_plain_bugs_are_unexpected()
    {
        Assert.Null(ApiFaults.Classify(new RequestFailedException(403, "Forbidden")));
        Assert.Null(ApiFaults.Classify(new RequestFailedException(404, "Not found")));
        Assert.Null(ApiFaults.Classify(new InvalidOperationException("A bug.")));
        Assert.Null(ApiFaults.Classify(new NullReferenceException()));
    }

    [Fact]
    public void A_timeout_of_the_runtimes_own_resilience_pipeline_crosses_the_wire_and_is_transient()
    {
        // Orleans' runtime times out some of its own calls with Polly; a silo that cannot serialize that exception
        // sends the client a CodecNotFoundException instead, which says nothing about the cause.
        using var factory = new ApiFactory();
        var timeout = new TimeoutRejectedException("The operation didn't complete within the allowed timeout of '00:00:02'.");

        foreach (var serializer in new[] { factory.Services.GetRequiredService<Serializer>(), ClientSerializer() })
        {
            var received = serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(timeout));

            Assert.IsType<TimeoutRejectedException>(received);
            Assert.Equal(503, ApiFaults.Classify(received)?.StatusCode);
        }
    }

    /// <summary>The serializer of an API process in Client mode (built, not started: it needs no cluster for this).</summary>
    private static Serializer ClientSerializer()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Diffusion:Api:Mode"] = "Client";
        builder.AddDiffusionClient();
        return builder.Build().Services.GetRequiredService<Serializer>();
    }
}
