using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Grains.Retention;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>Registers the configured <see cref="IImageStore"/> and, the same instance, its <see cref="IRetentionStore"/>.</summary>
public static class ImageStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IImageStore"/> as a singleton, bound to <paramref name="configuration"/> (usually the
    /// <see cref="ImageStoreOptions.SectionName"/> section). An empty section gives the local-disk store.
    /// </summary>
    public static IServiceCollection AddImageStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddImageStore(builder => builder.Bind(configuration));
    }

    /// <summary>Registers <see cref="IImageStore"/> as a singleton, configured in code.</summary>
    public static IServiceCollection AddImageStore(this IServiceCollection services, Action<ImageStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddImageStore(builder => builder.Configure(configure));
    }

    private static IServiceCollection AddImageStore(this IServiceCollection services, Action<OptionsBuilder<ImageStoreOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<ImageStoreOptions>();
        configure(options);
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ImageStoreOptions>, ImageStoreOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ImageStoreHealth>();
        services.TryAddSingleton(CreateStore);
        services.TryAddSingleton(RetentionOf);
        return services;
    }

    private static IImageStore CreateStore(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<ImageStoreOptions>>();
        return options.Value.Provider switch
        {
            ImageStoreProvider.LocalDisk => new LocalDiskImageStore(options, services.GetRequiredService<TimeProvider>()),
            ImageStoreProvider.AzureBlob => new AzureBlobImageStore(
                options,
                services.GetRequiredService<TimeProvider>(),
                (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<AzureBlobImageStore>(),
                services.GetRequiredService<ImageStoreHealth>()),
            var provider => throw new InvalidOperationException($"Unknown image store provider '{provider}'."),
        };
    }

    private static IRetentionStore RetentionOf(IServiceProvider services) =>
        services.GetRequiredService<IImageStore>() as IRetentionStore
        ?? throw new InvalidOperationException("The registered image store keeps no retention marks: it must implement IRetentionStore.");
}
