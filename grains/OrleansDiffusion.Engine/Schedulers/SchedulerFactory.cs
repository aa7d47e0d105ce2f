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
    /// Whether the config's <c>use_karras_sigmas</c> applies to <paramref name="kind"/>: only the classes whose
    /// diffusers <c>__init__</c> takes it read it (EulerDiscreteScheduler, LMSDiscreteScheduler and
    /// DPMSolverMultistepScheduler; EulerAncestralDiscreteScheduler has no such key).
    /// </summary>
    public static bool ReadsKarrasSigmas(SchedulerKind kind) =>
        kind is SchedulerKind.Euler or SchedulerKind.Lms or SchedulerKind.DpmPlusPlus2M;

    /// <summary>Whether <paramref name="kind"/>, named without <c>_karras</c>, follows Karras sigmas because the config asks for them.</summary>
    public static bool ConfigKarras(SchedulerKind kind, SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.UseKarrasSigmas && ReadsKarrasSigmas(kind);
    }

    /// <summary>
    /// A new scheduler for one job, built as diffusers' <c>from_config</c> builds its class: the keys the class reads,
    /// with its own defaults for those the config leaves out. Karras sigmas are used when
    /// <paramref name="karrasSigmas"/> asks for them (the <c>_karras</c> names), or when the config sets
    /// <c>use_karras_sigmas</c> and the class reads it (<see cref="ReadsKarrasSigmas"/>).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// Karras sigmas requested for a kind without them, an invalid config, or a config value the class reads and this
    /// engine does not implement (the message names the key).
    /// </exception>
    public static IScheduler Create(SchedulerKind kind, SchedulerConfig config, bool karrasSigmas = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        return kind switch
        {
            SchedulerKind.Euler => new EulerScheduler(config, karrasSigmas),
            SchedulerKind.EulerAncestral => new EulerAncestralScheduler(config, karrasSigmas),
            SchedulerKind.Ddim => new DdimScheduler(config, karrasSigmas),
            SchedulerKind.Pndm => new PndmScheduler(config, karrasSigmas),
            SchedulerKind.Lms => new LmsScheduler(config, karrasSigmas),
            SchedulerKind.DpmPlusPlus2M => new DpmSolverMultistepScheduler(config, karrasSigmas),
            SchedulerKind.Lcm => new LcmScheduler(config, karrasSigmas),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown scheduler kind."),
        };
    }

    /// <summary>
    /// Checks, before any work, that <paramref name="kind"/> can run <paramref name="steps"/> steps on a model with
    /// this config: the same checks <see cref="Create"/> and <see cref="IScheduler.SetTimesteps"/> make (PNDM's
    /// Runge-Kutta warm-up needs 4 steps, LCM at most <c>original_inference_steps</c>, and so on).
    /// </summary>
    /// <exception cref="ArgumentException">It cannot; the message says why, for a person (no parameter name).</exception>
    public static void Validate(SchedulerKind kind, SchedulerConfig config, bool karrasSigmas, int steps)
    {
        try
        {
            Create(kind, config, karrasSigmas).SetTimesteps(steps, 1);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(Reason(e), e);
        }
    }

    /// <summary>An argument exception's message without the " (Parameter 'x')" and actual-value lines .NET appends.</summary>
    private static string Reason(ArgumentException e)
    {
        var message = e.Message;
        if (e.ParamName is { } name)
        {
            var suffix = message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal);
            if (suffix >= 0)
            {
                message = message[..suffix];
            }
        }

        return message;
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
    /// The scheduler a request without one gets on a model whose UNet is <paramref name="unet"/>: LCM for an LCM UNet,
    /// which was distilled for it (whatever its folder's configuration names), else <see cref="DefaultFor(SchedulerConfig)"/>.
    /// </summary>
    public static SchedulerKind DefaultFor(SchedulerConfig config, Models.UNetKind unet)
    {
        ArgumentNullException.ThrowIfNull(unet);
        return unet.Lcm ? SchedulerKind.Lcm : DefaultFor(config);
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
