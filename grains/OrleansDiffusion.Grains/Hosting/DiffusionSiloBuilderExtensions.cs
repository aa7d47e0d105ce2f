using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Azure.Data.Tables;
using OrleansDiffusion.Grains.Jobs;
using OrleansDiffusion.Grains.Models;
using OrleansDiffusion.Grains.Queue;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Webhooks;
using OrleansDiffusion.Grains.Workers;

namespace OrleansDiffusion.Grains.Hosting;

public static class DiffusionSiloBuilderExtensions
{
    /// <summary>
    /// Registers the diffusion grains' services on a silo: options (section <see cref="DiffusionOptions.SectionName"/>,
    /// validated at start), the model catalog and host, worker slots, the runner and the worker pump, metrics, and the
    /// idle collection age of inference workers. The image store and grain storage are the host's choice.
    /// </summary>
    /// <summary>Keeps the queue partitions' entries in Azure Table storage (one row each) instead of this silo's memory.</summary>
    public static ISiloBuilder AddDiffusionQueueTable(this ISiloBuilder silo, TableServiceClient tables)
    {
        silo.Services.AddSingleton<IQueueStore>(new AzureTableQueueStore(tables));
        return silo;
    }

    /// <summary>Keeps each API key's job index in Azure Table storage (one row per job) instead of this silo's memory.</summary>
    public static ISiloBuilder AddDiffusionJobIndexTable(this ISiloBuilder silo, TableServiceClient tables)
    {
        silo.Services.AddSingleton<IJobIndex>(new AzureTableJobIndex(tables));
        return silo;
    }

    /// <summary>Keeps unfinished webhooks in Azure Table storage (one row per job) instead of this silo's memory.</summary>
    public static ISiloBuilder AddDiffusionWebhookTable(this ISiloBuilder silo, TableServiceClient tables)
    {
        silo.Services.AddSingleton<IWebhookStore>(new AzureTableWebhookStore(tables));
        return silo;
    }

    public static ISiloBuilder AddDiffusion(this ISiloBuilder silo, IConfiguration configuration, Action<DiffusionOptions>? configure = null)
    {
        var services = silo.Services;
        var options = services.AddOptions<DiffusionOptions>()
            .Bind(configuration.GetSection(DiffusionOptions.SectionName))
            .ValidateDataAnnotations()
            .Validate(o => o.Models.All(m => !string.IsNullOrWhiteSpace(m.Id) && !string.IsNullOrWhiteSpace(m.Path)), "Every Diffusion:Models entry needs an Id and a Path.")
            .Validate(o => o.GrainIdleTimeout >= TimeSpan.FromSeconds(1), "Diffusion:GrainIdleTimeout must be at least 1 second.")
            .Validate(o => o.ModelUnloadAfter >= TimeSpan.FromSeconds(2), "Diffusion:ModelUnloadAfter must be at least 2 seconds.")
            .Validate(o => o.LeaseDuration >= TimeSpan.FromSeconds(3), "Diffusion:LeaseDuration must be at least 3 seconds.")
            .Validate(o => o.PollInterval > TimeSpan.Zero, "Diffusion:PollInterval must be positive.")
            .Validate(o => o.BatchWindow >= TimeSpan.Zero, "Diffusion:BatchWindow must not be negative.")
            .Validate(o => o.WarmModels.All(w => o.Models.Count == 0 ? w == ModelCatalog.DemoModelId : o.Models.Exists(m => m.Id == w)), "Diffusion:WarmModels names a model that is not configured.")
            .Validate(o => o.Scaling.MinSilos is >= 0 and <= 10_000, "Diffusion:Scaling:MinSilos must be between 0 and 10000.")
            .Validate(o => o.Scaling.MaxSilos >= Math.Max(1, o.Scaling.MinSilos) && o.Scaling.MaxSilos <= 10_000, "Diffusion:Scaling:MaxSilos must be at least 1, at least MinSilos, and at most 10000.")
            .Validate(o => o.Scaling.WorkPerSilo is >= 0 and <= 1_000_000, "Diffusion:Scaling:WorkPerSilo must be between 0 (the silo's Capacity times 20 units) and 1000000 units.")
            .Validate(o => System.ComponentModel.DataAnnotations.Validator.TryValidateObject(o.Webhooks, new(o.Webhooks), null, validateAllProperties: true), "A Diffusion:Webhooks setting is out of its range (see docs/configuration.md).")
            .Validate(o => o.Webhooks.MaxRetryDelay >= o.Webhooks.RetryDelay, "Diffusion:Webhooks:MaxRetryDelay must be at least RetryDelay.")
            .Validate(o => o.Scaling.ScaleInDelay >= TimeSpan.Zero && o.Scaling.ScaleToZeroAfter >= TimeSpan.Zero, "Diffusion:Scaling:ScaleInDelay and ScaleToZeroAfter must not be negative.")
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DiffusionOptions>, RetentionOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DiffusionOptions>, CudaProviderOptionsValidator>());
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddMetrics();
        services.AddRuntimeExceptionSerialization();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DiffusionMetrics>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<ModelHost>();
        services.TryAddSingleton<IQueueStore, MemoryQueueStore>();
        services.TryAddSingleton<IJobIndex, MemoryJobIndex>();
        services.AddSingleton<WorkerSlots>();
        services.AddSingleton<InferenceRunner>();
        services.AddSingleton<WorkerPump>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<WorkerPump>());
        services.AddSingleton<RetentionMarker>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<RetentionMarker>());
        services.AddSingleton<RetentionSweeper>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, RetentionKeeper>();
        services.TryAddSingleton<IWebhookStore, MemoryWebhookStore>();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, WebhookKeeper>();

        // Idle inference workers (and with them their models) are collected after ModelUnloadAfter, jobs and cache
        // entries after GrainIdleTimeout; the collection quantum must not exceed the shortest age.
        services.AddOptions<GrainCollectionOptions>().Configure<IOptions<DiffusionOptions>>((collection, diffusion) =>
        {
            var idle = diffusion.Value.ModelUnloadAfter;
            collection.ClassSpecificCollectionAge[typeof(InferenceWorkerGrain).FullName!] = idle;
            collection.ClassSpecificCollectionAge[typeof(Jobs.GenerationJobGrain).FullName!] = diffusion.Value.GrainIdleTimeout;
            collection.ClassSpecificCollectionAge[typeof(Cache.ResultCacheGrain).FullName!] = diffusion.Value.GrainIdleTimeout;
            var shortest = idle < diffusion.Value.GrainIdleTimeout ? idle : diffusion.Value.GrainIdleTimeout;
            var quantum = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, shortest.Ticks / 2));
            if (quantum < collection.CollectionQuantum)
            {
                collection.CollectionQuantum = quantum;
            }
        });

        return silo;
    }
}
