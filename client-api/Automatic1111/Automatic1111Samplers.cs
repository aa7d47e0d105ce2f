using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// AUTOMATIC1111's sampler and schedule-type names and how they map to the cluster's scheduler names. A sampler is
/// found by its name or an alias (case-insensitively), by the legacy names with a <c>" Karras"</c> suffix
/// (<c>"DPM++ 2M Karras"</c>), or by a native scheduler name (<c>dpmpp_2m_karras</c>).
/// </summary>
public static class Automatic1111Samplers
{
    public const string DefaultSampler = "Euler";

    public static IReadOnlyList<Sampler> All { get; } =
    [
        new("Euler", "euler", ["k_euler"]),
        new("Euler a", "euler_a", ["k_euler_a", "k_euler_ancestral"]),
        new("LMS", "lms", ["k_lms"]),
        new("DPM++ 2M", "dpmpp_2m", ["k_dpmpp_2m"]),
        new("DDIM", "ddim", ["ddim"]),
        new("PLMS", "pndm", ["plms"]),
        new("LCM", "lcm", ["k_lcm"]),
    ];

    /// <summary>Schedule types; only Karras changes anything (Karras sigmas), the others keep the sampler's own.</summary>
    public static IReadOnlyList<ScheduleType> Schedules { get; } =
    [
        new("automatic", "Automatic", Karras: false, DefaultRho: -1),
        new("uniform", "Uniform", Karras: false, DefaultRho: -1),
        new("karras", "Karras", Karras: true, DefaultRho: 7),
    ];

    /// <summary>The A1111 sampler for a name, or null when there is none.</summary>
    public static (Sampler Sampler, bool LegacyKarras)? FindSampler(string name)
    {
        var trimmed = name.Trim();
        var karras = trimmed.EndsWith(" Karras", StringComparison.OrdinalIgnoreCase);
        var baseName = karras ? trimmed[..^" Karras".Length] : trimmed;
        foreach (var sampler in All)
        {
            if (sampler.Name.Equals(baseName, StringComparison.OrdinalIgnoreCase)
                || sampler.Aliases.Any(a => a.Equals(baseName, StringComparison.OrdinalIgnoreCase)))
            {
                return (sampler, karras);
            }
        }

        if (SchedulerFactory.TryParse(trimmed, out var kind, out var nativeKarras))
        {
            var native = SchedulerFactory.Name(kind, karras: false);
            return All.FirstOrDefault(s => s.Scheduler == native) is { } found ? (found, nativeKarras) : null;
        }

        return null;
    }

    /// <summary>The schedule type for a name or label; null or empty is Automatic; unknown gives null.</summary>
    public static ScheduleType? FindSchedule(string? name) =>
        string.IsNullOrWhiteSpace(name)
            ? Schedules[0]
            : Schedules.FirstOrDefault(s => s.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase) || s.Label.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>An A1111 sampler: its display name, the native scheduler it runs as, and the aliases A1111 lists.</summary>
public sealed record Sampler(string Name, string Scheduler, IReadOnlyList<string> Aliases)
{
    public bool SupportsKarras => SchedulerFactory.TryParse(Scheduler + "_karras", out _, out _);
}

/// <summary>An A1111 schedule type (<c>/sdapi/v1/schedulers</c>).</summary>
public sealed record ScheduleType(string Name, string Label, bool Karras, double DefaultRho);
