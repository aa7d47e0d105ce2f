namespace OrleansDiffusion.Grains.Storage;

/// <summary>Which <see cref="IImageStore"/> implementation a silo uses.</summary>
public enum ImageStoreProvider
{
    /// <summary>Files under <see cref="ImageStoreOptions.LocalRoot"/>: zero configuration, one machine only.</summary>
    LocalDisk,

    /// <summary>An Azure Blob Storage container (or Azurite): shared by every silo, issues SAS read URLs.</summary>
    AzureBlob,
}
