using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Storage;
using OrleansDiffusion.Grains.Workers;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

/// <summary>
/// A real multi-silo cluster in this process: the diffusion grains over the tiny demo model, images on local disk,
/// grain state in memory or, given a connection string, in Azure storage (Azurite). It does not depend on xunit (timeouts
/// throw <see cref="TimeoutException"/>), so the cluster benchmark links the same file.
/// </summary>
public sealed class ClusterHarness : IAsyncDisposable
{
    private readonly string _root;

    private readonly SiloSettings _settings;

    private ClusterHarness(InProcessTestCluster cluster, string root, string modelDirectory, SiloSettings settings)
    {
        _settings = settings;
        Cluster = cluster;
        _root = root;
        ModelDirectory = modelDirectory;
    }

    public InProcessTestCluster Cluster { get; }

    /// <summary>The capacity of silos started from now on (null: what the configure delegate says).</summary>
    public int? NewSiloCapacity
    {
        get => _settings.Capacity;
        set => _settings.Capacity = value;
    }

    public IClusterClient Client => Cluster.Client;

    public string ModelDirectory { get; }

    public string ImagesDirectory => Path.Combine(_root, "images");

    /// <summary>Writes the model (and image folder) under a fresh root; reuse the root to restart a cluster on the same data.</summary>
    public static string CreateRoot(int unetExtraConvLayers = 0)
    {
        var root = Path.Combine(Path.GetTempPath(), "od-cluster-" + Guid.NewGuid().ToString("N")[..10]);
        DemoModelWriter.Write(Path.Combine(root, "model"), new DemoModelOptions { UNetExtraConvLayers = unetExtraConvLayers });
        return root;
    }

    public static async Task<ClusterHarness> StartAsync(
        int silos,
        Action<DiffusionOptions>? configure = null,
        string? azureConnectionString = null,
        string? root = null,
        string? serviceId = null,
        Action<ImageStoreOptions>? imageStore = null,
        Action<IServiceCollection>? services = null)
    {
        root ??= CreateRoot();
        var modelDirectory = Path.Combine(root, "model");
        var imagesDirectory = Path.Combine(root, "images");
        var settings = new SiloSettings();
        var builder = new InProcessTestClusterBuilder((short)silos);
        if (serviceId is not null)
        {
            builder.Options.ServiceId = serviceId;
        }

        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddDiffusion(new ConfigurationBuilder().Build(), options =>
            {
                options.Models = [new ModelOptions { Id = "demo", Path = modelDirectory }];
                options.Capacity = 1;
                options.PollInterval = TimeSpan.FromMilliseconds(50);
                options.LeaseDuration = TimeSpan.FromSeconds(6);
                options.PreviewInterval = 2;
                options.IntraOpThreads = 1;
                configure?.Invoke(options);
                if (settings.Capacity is { } capacity)
                {
                    options.Capacity = capacity;
                }
            });
            // Registered first, a test's own services (a wrapped image store) win over the defaults registered after.
            services?.Invoke(silo.Services);
            silo.Services.AddImageStore(o =>
            {
                o.LocalRoot = imagesDirectory;
                imageStore?.Invoke(o);
            });
            if (azureConnectionString is null)
            {
                silo.AddMemoryGrainStorage(StorageNames.Jobs);
                silo.AddMemoryGrainStorage(StorageNames.Cache);
            }
            else
            {
                // As the silo host configures them: a cleared record is deleted.
                silo.AddAzureTableGrainStorage(StorageNames.Jobs, o =>
                {
                    o.TableServiceClient = new TableServiceClient(azureConnectionString);
                    o.DeleteStateOnClear = true;
                });
                silo.AddAzureBlobGrainStorage(StorageNames.Cache, o =>
                {
                    o.BlobServiceClient = new BlobServiceClient(azureConnectionString);
                    o.DeleteStateOnClear = true;
                });
                silo.AddDiffusionQueueTable(new TableServiceClient(azureConnectionString));
                silo.AddDiffusionJobIndexTable(new TableServiceClient(azureConnectionString));
                silo.AddDiffusionWebhookTable(new TableServiceClient(azureConnectionString));
            }

            // A killed silo is noticed in seconds, not the production default of a minute or more.
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
            });
        });

        builder.ConfigureClient(client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10)));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new ClusterHarness(cluster, root, modelDirectory, settings);
    }

    /// <summary>A small txt2img request on the demo model: 64 x 64, Euler, the given steps.</summary>
    public static GenerationSpec SmallSpec(string prompt, long seed, int steps) => new()
    {
        Prompt = prompt,
        Seed = seed,
        Steps = steps,
        Width = 64,
        Height = 64,
        Scheduler = "euler",
    };

    public T Service<T>(InProcessSiloHandle silo)
        where T : notnull => silo.ServiceProvider.GetRequiredService<T>();

    public IEnumerable<InProcessSiloHandle> ActiveSilos => Cluster.Silos.Where(s => s.IsActive);

    public ModelHost ModelHostOf(InProcessSiloHandle silo) => Service<ModelHost>(silo);

    public InferenceRunner RunnerOf(InProcessSiloHandle silo) => Service<InferenceRunner>(silo);

    public IGenerationJobGrain Job(Guid id) => Client.GetGrain<IGenerationJobGrain>(id);

    /// <summary>Submits a job and returns its id and the snapshot Submit answered.</summary>
    public async Task<(Guid Id, JobSnapshot Snapshot)> SubmitAsync(GenerationSpec spec, string apiKey = "test")
    {
        var id = Guid.NewGuid();
        return (id, await Job(id).Submit(spec, apiKey, IKeyQuotaGrain.Unlimited));
    }

    /// <summary>The job's snapshot, retried while its grain moves off a silo that just died.</summary>
    public async Task<JobSnapshot> WaitForSnapshotAsync(Guid id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            try
            {
                return await Job(id).GetSnapshot();
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTime.UtcNow < deadline)
            {
                // A client retries until the grain is reactivated elsewhere.
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Polls until the job is finished; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task<JobSnapshot> WaitAsync(Guid id, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var snapshot = await WaitForSnapshotAsync(id, limit);
            if (snapshot.IsTerminal)
            {
                return snapshot;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Job {id} still {snapshot.Status} at step {snapshot.Step}/{snapshot.TotalSteps} after {limit}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits for a condition that the cluster reaches on its own (idle collection, failure detection).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for: {what}.");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cluster.StopAllSilosAsync();
        }
        catch (Exception)
        {
            // Silos killed by a test are already gone.
        }

        await Cluster.DisposeAsync();
    }

    /// <summary>Deletes the model and image folders.</summary>
    public static void DeleteRoot(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public void DeleteRoot() => DeleteRoot(_root);

    private sealed class SiloSettings
    {
        public int? Capacity { get; set; }
    }
}
