using System.ComponentModel.DataAnnotations;

namespace OrleansDiffusion.Hosting;

/// <summary>
/// How the silo joins its cluster and where grain state lives (configuration section <see cref="SectionName"/>).
/// The defaults are the zero-config single process: localhost clustering, state in memory.
/// </summary>
public sealed class ClusterHostingOptions
{
    public const string SectionName = "Diffusion:Cluster";

    /// <summary><c>Localhost</c> (development), <c>AzureTable</c> or <c>Kubernetes</c>. Default: Localhost.</summary>
    public ClusteringKind Clustering { get; set; } = ClusteringKind.Localhost;

    /// <summary>Grain state (jobs, result cache, queue) and reminders: <c>Memory</c> or <c>AzureStorage</c>. Default: Memory.</summary>
    public StateStorageKind Storage { get; set; } = StateStorageKind.Memory;

    /// <summary>The Azure Storage connection string, for AzureTable clustering and AzureStorage state.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Default: <c>orleans-diffusion</c>.</summary>
    [Required]
    public string ClusterId { get; set; } = "orleans-diffusion";

    /// <summary>Default: <c>orleans-diffusion</c>. Keep it stable: grain state is keyed by it.</summary>
    [Required]
    public string ServiceId { get; set; } = "orleans-diffusion";

    /// <summary>Silo-to-silo port. Default: 11111.</summary>
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port. Default: 30000.</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Localhost clustering: the primary silo's port (the first silo's <see cref="SiloPort"/>). Default: 11111.</summary>
    [Range(1, 65535)]
    public int PrimarySiloPort { get; set; } = 11111;

    /// <summary>
    /// Serve the Orleans dashboard at <c>/dashboard</c>. Default (unset): on for a silo (the silo host, the co-hosted
    /// API), off for an API in <c>Client</c> mode. Where it is served it is guarded: an admin key when the API has keys,
    /// otherwise loopback connections only. A Client-mode dashboard reads what the silos collect: they need it on too.
    /// </summary>
    public bool? Dashboard { get; set; }
}

public enum ClusteringKind
{
    Localhost,
    AzureTable,
    Kubernetes,
}

public enum StateStorageKind
{
    Memory,
    AzureStorage,
}
