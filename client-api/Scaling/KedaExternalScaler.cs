using Grpc.Core;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Scaling.Keda;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Scaling;

/// <summary>
/// KEDA's external scaler over the cluster's scaling signal. The metric is the desired number of silos with a target
/// of 1 per replica, so the HPA that KEDA drives sets the silo replicas to exactly that number; IsActive is false
/// when the cluster may scale to zero.
/// </summary>
public sealed class KedaExternalScaler(IGrainFactory grains, IOptions<ScalerOptions> options) : ExternalScaler.ExternalScalerBase
{
    public const string MetricName = "diffusion_desired_silos";

    private IWorkQueueGrain Queue => grains.GetGrain<IWorkQueueGrain>(IWorkQueueGrain.DefaultKey);

    public override async Task<IsActiveResponse> IsActive(ScaledObjectRef request, ServerCallContext context) =>
        new() { Result = (await SignalAsync()).IsActive };

    public override async Task StreamIsActive(ScaledObjectRef request, IServerStreamWriter<IsActiveResponse> responseStream, ServerCallContext context)
    {
        bool? sent = null;
        using var timer = new PeriodicTimer(options.Value.StreamInterval);
        do
        {
            var active = (await SignalAsync()).IsActive;
            if (active != sent)
            {
                await responseStream.WriteAsync(new IsActiveResponse { Result = active }, context.CancellationToken);
                sent = active;
            }
        }
        while (await WaitAsync(timer, context.CancellationToken));
    }

    public override Task<GetMetricSpecResponse> GetMetricSpec(ScaledObjectRef request, ServerCallContext context) =>
        Task.FromResult(new GetMetricSpecResponse
        {
            MetricSpecs = { new MetricSpec { MetricName = MetricName, TargetSize = 1, TargetSizeFloat = 1 } },
        });

    public override async Task<GetMetricsResponse> GetMetrics(GetMetricsRequest request, ServerCallContext context)
    {
        var desired = (await SignalAsync()).DesiredSilos;
        return new GetMetricsResponse
        {
            MetricValues = { new MetricValue { MetricName = MetricName, MetricValue_ = desired, MetricValueFloat = desired } },
        };
    }

    private async Task<ScaleSignal> SignalAsync()
    {
        try
        {
            return await Queue.GetScaleSignal();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // KEDA counts the failure and, with a fallback configured on the ScaledObject, holds its fallback replicas.
            throw new RpcException(new Status(StatusCode.Unavailable, "The cluster's scaling signal is unavailable: " + e.Message));
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
