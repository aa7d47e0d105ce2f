using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;

namespace OrleansDiffusion.Grains.Storage;

/// <summary>Stops the host at start on an image store configuration that could only fail later, per request.</summary>
internal sealed partial class ImageStoreOptionsValidator : IValidateOptions<ImageStoreOptions>
{
    private const string Section = ImageStoreOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, ImageStoreOptions options)
    {
        var failures = new List<string>();
        switch (options.Provider)
        {
            case ImageStoreProvider.LocalDisk:
                if (string.IsNullOrWhiteSpace(options.LocalRoot))
                {
                    failures.Add($"{Section}:LocalRoot must name a folder when {Section}:Provider is LocalDisk.");
                }

                break;
            case ImageStoreProvider.AzureBlob:
                ValidateAzureBlob(options, failures);
                break;
            default:
                failures.Add($"{Section}:Provider '{options.Provider}' is not one of: {string.Join(", ", Enum.GetNames<ImageStoreProvider>())}.");
                break;
        }

        if (options.ReadUrlLifetime <= TimeSpan.Zero)
        {
            failures.Add($"{Section}:ReadUrlLifetime must be positive (got {options.ReadUrlLifetime}).");
        }

        if (options.MaxRetries < 0)
        {
            failures.Add($"{Section}:MaxRetries must not be negative (got {options.MaxRetries}).");
        }

        if (options.RetryDelay <= TimeSpan.Zero || options.MaxRetryDelay < options.RetryDelay)
        {
            failures.Add($"{Section}:RetryDelay must be positive and not above MaxRetryDelay (got {options.RetryDelay} and {options.MaxRetryDelay}).");
        }

        if (options.NetworkTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{Section}:NetworkTimeout must be positive (got {options.NetworkTimeout}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateAzureBlob(ImageStoreOptions options, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            failures.Add(
                $"{Section}:ConnectionString is required when {Section}:Provider is AzureBlob: set it to the storage account's " +
                "connection string (with its account key, which signs the SAS read URLs), or use Provider LocalDisk.");
        }
        else
        {
            try
            {
                // Parsing only: no request is sent.
                if (!new BlobServiceClient(options.ConnectionString).CanGenerateAccountSasUri)
                {
                    failures.Add(
                        $"{Section}:ConnectionString has no account key: SAS read URLs cannot be signed. " +
                        "Use a connection string with AccountName and AccountKey.");
                }
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                failures.Add($"{Section}:ConnectionString is not a valid Azure Storage connection string: {ex.Message}");
            }
        }

        if (options.Container is null || !ContainerName().IsMatch(options.Container))
        {
            failures.Add(
                $"{Section}:Container '{options.Container}' is not a valid blob container name " +
                "(3-63 lower-case letters, digits and single hyphens, starting with a letter or digit).");
        }
    }

    [GeneratedRegex(@"\A(?=.{3,63}\z)[a-z0-9]+(-[a-z0-9]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex ContainerName();
}
