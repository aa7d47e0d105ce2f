using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Storage;

public sealed class ImageStoreRegistrationTests(AzuriteFixture azurite)
{
    [Fact]
    public void An_empty_section_gives_the_local_disk_store_under_data_images()
    {
        using var services = Build([]);

        var store = Assert.IsType<LocalDiskImageStore>(services.GetRequiredService<IImageStore>());
        Assert.Equal(Path.GetFullPath(Path.Combine("data", "images")), store.Root);
    }

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var options = new ImageStoreOptions();

        Assert.Equal(ImageStoreProvider.LocalDisk, options.Provider);
        Assert.Equal("images", options.Container);
        Assert.Equal(TimeSpan.FromMinutes(60), options.ReadUrlLifetime);
        Assert.Null(options.ConnectionString);
        Assert.True(options.MaxRetries >= 6);
        Assert.Equal(TimeSpan.FromSeconds(4), options.MaxRetryDelay);
    }

    [Fact]
    public void Azure_blob_provider_from_configuration_gives_the_blob_store()
    {
        using var services = Build(new()
        {
            ["Diffusion:ImageStore:Provider"] = "AzureBlob",
            ["Diffusion:ImageStore:ConnectionString"] = azurite.ConnectionString,
            ["Diffusion:ImageStore:Container"] = "registration",
            ["Diffusion:ImageStore:ReadUrlLifetime"] = "00:10:00",
        });

        var store = Assert.IsType<AzureBlobImageStore>(services.GetRequiredService<IImageStore>());
        Assert.EndsWith("/registration", store.ContainerUri.AbsolutePath, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(10), services.GetRequiredService<IOptions<ImageStoreOptions>>().Value.ReadUrlLifetime);
    }

    [Fact]
    public void Code_configuration_is_supported()
    {
        using var root = new TempDirectory();
        var collection = new ServiceCollection().AddImageStore(o => o.LocalRoot = root.Path);
        using var services = collection.BuildServiceProvider();

        Assert.Equal(root.Path, Assert.IsType<LocalDiskImageStore>(services.GetRequiredService<IImageStore>()).Root);
    }

    [Fact]
    public void Azure_blob_without_a_connection_string_stops_the_start_with_a_clear_message()
    {
        using var services = Build(new() { ["Diffusion:ImageStore:Provider"] = "AzureBlob" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Diffusion:ImageStore:ConnectionString is required when Diffusion:ImageStore:Provider is AzureBlob", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a connection string", "not a valid Azure Storage connection string")]
    [InlineData("BlobEndpoint=https://example.blob.core.windows.net/;SharedAccessSignature=sv=2024-01-01&sig=abc", "no account key")]
    public void Azure_blob_with_an_unusable_connection_string_stops_the_start(string connectionString, string expected)
    {
        using var services = Build(new() { ["Diffusion:ImageStore:Provider"] = "AzureBlob", ["Diffusion:ImageStore:ConnectionString"] = connectionString });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Diffusion:ImageStore:Container", "Images_With_Capitals")]
    [InlineData("Diffusion:ImageStore:ReadUrlLifetime", "-00:01:00")]
    [InlineData("Diffusion:ImageStore:MaxRetries", "-1")]
    [InlineData("Diffusion:ImageStore:LocalRoot", " ")]
    public void Invalid_settings_stop_the_start(string setting, string value)
    {
        using var services = Build(new()
        {
            ["Diffusion:ImageStore:Provider"] = setting == "Diffusion:ImageStore:LocalRoot" ? "LocalDisk" : "AzureBlob",
            ["Diffusion:ImageStore:ConnectionString"] = azurite.ConnectionString,
            [setting] = value,
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddImageStore(configuration.GetSection(ImageStoreOptions.SectionName)).BuildServiceProvider();
    }
}
