namespace OrleansDiffusion.Contracts;

/// <summary>The names of the grain storage providers and state the grains use.</summary>
public static class StorageNames
{
    /// <summary>Job records (accepted, final outcome).</summary>
    public const string Jobs = "jobs";

    /// <summary>Inference owners (result cache entries).</summary>
    public const string Cache = "cache";

    /// <summary>The Azure table that holds the queue partitions' entries, one row each.</summary>
    public const string QueueTable = "diffusionqueue";

    /// <summary>The Azure table that indexes each API key's jobs, one row per job.</summary>
    public const string JobIndexTable = "diffusionjobs";

    /// <summary>The Azure table that holds the unfinished webhooks, one row per job.</summary>
    public const string WebhookTable = "diffusionwebhooks";
}
