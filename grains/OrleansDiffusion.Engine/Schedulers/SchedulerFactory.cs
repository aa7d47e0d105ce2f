namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// Creates schedulers and maps them to and from the names the API accepts: <c>euler</c>, <c>euler_a</c>,
/// <c>ddim</c>, <c>pndm</c> (alias <c>plms</c>), <c>lms</c>, <c>dpmpp_2m</c>, <c>lcm</c>, and <c>_karras</c>
/// variants of the Karras-capable ones.
/// </summary>
public static class SchedulerFactory
{
    private const string KarrasSuffix = "_karras";

    private static readonly (string Name, SchedulerKind Kind)[] BaseNames =
    [
        ("euler", SchedulerKind.Euler),
        ("euler_a", SchedulerKind.EulerAncestral),
        ("ddim", SchedulerKind.Ddim),
        ("pndm", SchedulerKind.Pndm),
        ("lms", SchedulerKind.Lms),
        ("dpmpp_2m", SchedulerKind.DpmPlusPlus2M),
        ("lcm", SchedulerKind.Lcm),
    ];

    /// <summary>Every canonical name, each Karras-capable scheduler followed by its <c>_karras</c> variant.</summary>
    public static IReadOnlyList<string> Names { get; } = BuildNames();

    /// <summary>Whether the scheduler works in sigma space and so can follow a Karras sigma schedule.</summary>
    public static bool SupportsKarras(SchedulerKind kind) =>
        kind is SchedulerKind.Euler or SchedulerKind.EulerAncestral or SchedulerKind.Lms or SchedulerKind.DpmPlusPlus2M;

    /// <summary>
    /// A new scheduler for one job. Karras sigmas are used when <paramref name="karrasSigmas"/> asks for them, or when
    /// the config sets <c>use_karras_sigmas</c> and the kind supports them.
    /// </summary>
    /// <exception cref="ArgumentException">Karras sigmas requested for a kind without them, or an invalid config.</exception>
    public static IScheduler Create(SchedulerKind kind, SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        var karras = karrasSigmas || (config.UseKarrasSigmas && SupportsKarras(kind));
        return kind switch
        {
            SchedulerKind.Euler => new EulerScheduler(config, karras),
            SchedulerKind.EulerAncestral => new EulerAncestralScheduler(config, karras),
            SchedulerKind.Ddim => new DdimScheduler(config, karras),
            SchedulerKind.Pndm => new PndmScheduler(config, karras),
            SchedulerKind.Lms => new LmsScheduler(config, karras),
            SchedulerKind.DpmPlusPlus2M => new DpmSolverMultistepScheduler(config, karras),
            SchedulerKind.Lcm => new LcmScheduler(config, karras),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown scheduler kind."),
        };
    }

    /// <summary>
    /// Parses a scheduler name, case-insensitively and with '-' accepted for '_'. Unknown names, and a
    /// <c>_karras</c> suffix on a scheduler without Karras sigmas, give false.
    /// </summary>
    public static bool TryParse(string? name, out SchedulerKind kind, out bool karras)
    {
        kind = default;
        karras = false;
        if (string.IsNullOrWhiteSpace(name))
        {
            return false;
        }

        var normalized = name.Trim().Replace('-', '_').ToLowerInvariant();
        var wantsKarras = normalized.EndsWith(KarrasSuffix, StringComparison.Ordinal);
        if (wantsKarras)
        {
            normalized = normalized[..^KarrasSuffix.Length];
        }

        if (normalized == "plms")
        {
            normalized = "pndm";
        }

        foreach (var (baseName, candidate) in BaseNames)
        {
            if (baseName == normalized && (!wantsKarras || SupportsKarras(candidate)))
            {
                kind = candidate;
                karras = wantsKarras;
                return true;
            }
        }

        return false;
    }

    /// <summary>The canonical name of a scheduler, the inverse of <see cref="TryParse"/>.</summary>
    /// <exception cref="ArgumentException">Karras sigmas for a kind without them.</exception>
    public static string Name(SchedulerKind kind, bool karras)
    {
        foreach (var (baseName, candidate) in BaseNames)
        {
            if (candidate == kind)
            {
                if (karras && !SupportsKarras(kind))
                {
                    throw new ArgumentException($"The {kind} scheduler has no Karras variant.", nameof(karras));
                }

                return karras ? baseName + KarrasSuffix : baseName;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown scheduler kind.");
    }

    /// <summary>
    /// The scheduler a model was published with, from its config's <c>_class_name</c>. An unknown or missing class
    /// name gives <see cref="SchedulerKind.Euler"/>: deterministic, supports every prediction type, and good at
    /// the step counts people use, where guessing a multistep or consistency sampler could fail badly.
    /// </summary>
    public static SchedulerKind DefaultFor(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.ClassName switch
        {
            "PNDMScheduler" => SchedulerKind.Pndm,
            "DDIMScheduler" => SchedulerKind.Ddim,
            "EulerDiscreteScheduler" => SchedulerKind.Euler,
            "EulerAncestralDiscreteScheduler" => SchedulerKind.EulerAncestral,
            "LMSDiscreteScheduler" => SchedulerKind.Lms,
            "DPMSolverMultistepScheduler" => SchedulerKind.DpmPlusPlus2M,
            "LCMScheduler" => SchedulerKind.Lcm,
            _ => SchedulerKind.Euler,
        };
    }

    private static string[] BuildNames()
    {
        var names = new List<string>();
        foreach (var (baseName, kind) in BaseNames)
        {
            names.Add(baseName);
            if (SupportsKarras(kind))
            {
                names.Add(baseName + KarrasSuffix);
            }
        }

        return [.. names];
    }
}
