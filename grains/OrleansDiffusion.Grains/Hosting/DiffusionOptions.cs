using System.ComponentModel.DataAnnotations;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Scaling;
using OrleansDiffusion.Grains.Webhooks;

namespace OrleansDiffusion.Grains.Hosting;

/// <summary>
/// The cluster's diffusion settings (configuration section <see cref="SectionName"/>; <c>Orleans</c> belongs to
/// Orleans itself). Validated at start: a bad value stops the silo with a message naming the key.
/// </summary>
public sealed class DiffusionOptions
{
    public const string SectionName = "Diffusion";

    /// <summary>The models this silo can serve. Default: none, which means the tiny demo model (not Stable Diffusion).</summary>
    public List<ModelOptions> Models { get; set; } = [];

    /// <summary>The model used when a request names none. Default: the first of <see cref="Models"/>.</summary>
    public string? DefaultModel { get; set; }

    /// <summary>Where the demo model is written when no model is configured. Default: <c>~/.cache/orleans-diffusion/demo-model</c>.</summary>
    public string? DemoModelDirectory { get; set; }

    /// <summary>Generations this silo runs at once (GPUs, or CPU slots). Default: 1. 0 makes a silo that runs no inference.</summary>
    [Range(0, 64)]
    public int Capacity { get; set; } = 1;

    /// <summary>ONNX Runtime provider: <c>cpu</c> or <c>cuda</c> (falls back to CPU, logged). Default: cpu.</summary>
    [RegularExpression("^(?i)(cpu|cuda)$")]
    public string Provider { get; set; } = "cpu";

    /// <summary>The CUDA provider's options (section <c>Diffusion:Cuda</c>), used when <see cref="Provider"/> is cuda.</summary>
    public CudaProviderOptions Cuda { get; set; } = new();

    /// <summary>Threads per ONNX session. Default: 0 (ONNX Runtime's choice).</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's threads spin while they wait for work (ONNX Runtime's own default is to spin). Spinning
    /// burns the cores it waits on, which the API, Orleans and PNG encoding on the same machine need: on 2 cores with 2
    /// threads it halves the speed of a small model and gains nothing measurable on full-size SD 1.5
    /// (docs/benchmarks.md, "Threads and spinning"). Default: false.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// How long an idle job or result-cache grain stays in memory; it reloads from storage when needed again.
    /// Default: 2 minutes (keeps a busy API's memory flat).
    /// </summary>
    public TimeSpan GrainIdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long an inference worker activation lives after its last run ended (it stays while a run computes, however
    /// long). It holds its model while it lives, so this is also how long an idle model stays loaded before its memory is
    /// released. Default: 5 minutes; at least 2 seconds.
    /// </summary>
    public TimeSpan ModelUnloadAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// After a model is unloaded, hand the native heap's free pages back to the operating system (glibc's
    /// <c>malloc_trim</c>; Linux only), so that the silo's resident memory falls by the model's size. Default: true.
    /// </summary>
    public bool TrimNativeHeapOnUnload { get; set; } = true;

    /// <summary>Model ids kept loaded on every silo even when idle (provisioned concurrency). Default: none.</summary>
    public List<string> WarmModels { get; set; } = [];

    /// <summary>Load the warm models (or, with none, nothing) at start rather than at first use. Default: true.</summary>
    public bool PreloadWarmModels { get; set; } = true;

    /// <summary>
    /// Most waiting requests the queue holds, shared evenly by its partitions (each holds this / <see cref="QueuePartitions"/>,
    /// rounded up); more are refused with QueueFullException. Default: 1000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxQueueLength { get; set; } = 1000;

    /// <summary>
    /// Queue partitions per model: requests spread over them by a hash of their request key, each a grain with its own
    /// storage rows, so that no grain sees every job. Fair round robin between API keys is exact within a partition and
    /// approximate across them. Default: 4.
    /// </summary>
    [Range(1, 256)]
    public int QueuePartitions { get; set; } = 4;

    /// <summary>Most requests run together as one batched UNet call. Default: 4. 1 disables batching.</summary>
    [Range(1, 64)]
    public int MaxBatchSize { get; set; } = 4;

    /// <summary>How long a worker waits for compatible requests to join its batch. Default: 0 (take what waits now).</summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.Zero;

    /// <summary>A lease not renewed for this long goes back to the queue (the partition's watchdog). Default: 60 seconds.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How many times a request's work may be lost (its silo died, its lease expired, a transient fault) before the
    /// request fails instead of running again: a request that kills every silo it lands on must not take the cluster
    /// down one silo at a time. A stopping silo handing work back does not count. Default: 3.
    /// </summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// How long an idle worker slot waits before asking the queue again when no wake-up comes (the queue wakes idle
    /// silos when work arrives; this poll covers a lost wake-up or a queue that moved). Default: 1 second.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a stopping silo lets running work finish before handing it back. Default: 30 seconds.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Render a latent preview every this many steps. Default: 5; 0 for none.</summary>
    [Range(0, 1000)]
    public int PreviewInterval { get; set; } = 5;

    /// <summary>Who shares results (section <c>Diffusion:Cache</c>).</summary>
    public CacheOptions Cache { get; set; } = new();

    /// <summary>How the autoscaling signal (<c>diffusion_desired_silos</c>) is computed (section <c>Diffusion:Scaling</c>).</summary>
    public ScalingOptions Scaling { get; set; } = new();

    /// <summary>How long results, init images and job records are kept (section <c>Diffusion:Retention</c>).</summary>
    public RetentionOptions Retention { get; set; } = new();

    /// <summary>How job webhooks are delivered (section <c>Diffusion:Webhooks</c>).</summary>
    public WebhookOptions Webhooks { get; set; } = new();
}

/// <summary>One model folder and the id requests use for it.</summary>
public sealed class ModelOptions
{
    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    public string Id { get; set; } = string.Empty;

    /// <summary>A diffusers/optimum ONNX export folder.</summary>
    [Required]
    public string Path { get; set; } = string.Empty;
}

/// <summary>Who shares results (section <c>Diffusion:Cache</c>).</summary>
public sealed class CacheOptions
{
    /// <summary>
    /// <see cref="CacheScope.Global"/> (the default): identical requests from any key share one inference and its images,
    /// so a key that submits exactly another key's request (prompt, seed, every setting) gets the same images, at once.
    /// <see cref="CacheScope.Key"/>: only requests of the same key are shared.
    /// </summary>
    public CacheScope Scope { get; set; } = CacheScope.Global;
}

public enum CacheScope
{
    Global,
    Key,
}
