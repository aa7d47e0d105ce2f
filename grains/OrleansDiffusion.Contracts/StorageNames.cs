namespace OrleansDiffusion.Contracts;

/// <summary>The names of the grain storage providers and state the grains use.</summary>
public static class StorageNames
{
    /// <summary>Job lifecycle state.</summary>
    public const string Jobs = "jobs";

    /// <summary>Result cache entries and the work queue.</summary>
    public const string Cache = "cache";
}
