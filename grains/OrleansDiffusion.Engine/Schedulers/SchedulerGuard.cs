namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>Argument checks shared by the schedulers; they throw only on misuse, so the hot path stays allocation-free.</summary>
internal static class SchedulerGuard
{
    public static void CheckInferenceSteps(int inferenceSteps, int sampleLength, int trainTimesteps)
    {
        if (inferenceSteps < 1 || inferenceSteps > trainTimesteps)
        {
            throw new ArgumentOutOfRangeException(
                nameof(inferenceSteps), inferenceSteps, $"Inference steps must lie in [1, {trainTimesteps}] (the training timesteps).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(sampleLength, 1);
    }

    public static void CheckStep(int stepCount, int sampleLength, int stepIndex, int modelOutputLength, int sampleSpanLength)
    {
        if (sampleLength == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called before Step.");
        }

        CheckIndex(stepIndex, stepCount);
        if (modelOutputLength != sampleLength || sampleSpanLength != sampleLength)
        {
            throw new ArgumentException(
                $"Model output ({modelOutputLength}) and sample ({sampleSpanLength}) must both hold {sampleLength} floats, as given to SetTimesteps.");
        }
    }

    public static void CheckAddNoise(int stepCount, int stepIndex, int originalLength, int noiseLength, int destinationLength)
    {
        if (stepCount == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called before AddNoise.");
        }

        CheckIndex(stepIndex, stepCount);
        if (noiseLength != originalLength || destinationLength != originalLength)
        {
            throw new ArgumentException(
                $"Original ({originalLength}), noise ({noiseLength}) and destination ({destinationLength}) must have the same length.");
        }
    }

    public static void CheckIndex(int stepIndex, int stepCount)
    {
        if (stepCount == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called first.");
        }

        if ((uint)stepIndex >= (uint)stepCount)
        {
            throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"Step index must lie in [0, {stepCount}).");
        }
    }

    /// <summary>Multistep history is only meaningful when steps follow one another; catch a skipped or repeated step.</summary>
    public static void CheckConsecutive(int expectedStepIndex, int stepIndex)
    {
        if (expectedStepIndex >= 0 && stepIndex != expectedStepIndex)
        {
            throw new InvalidOperationException(
                $"This multistep scheduler expected step {expectedStepIndex} but was given {stepIndex}; call SetTimesteps to start over.");
        }
    }

    /// <summary>
    /// The value of a string key that only some classes read, checked against what the reading class accepts;
    /// <paramref name="aliases"/> maps values diffusers silently replaces (DPM-Solver's "bh2" solver type, for one).
    /// </summary>
    public static string Choice(string? value, string key, string className, string fallback, string[] allowed, params (string From, string To)[] aliases)
    {
        if (value is null)
        {
            return fallback;
        }

        foreach (var (from, to) in aliases)
        {
            if (value == from)
            {
                return to;
            }
        }

        return Array.IndexOf(allowed, value) >= 0
            ? value
            : throw new ArgumentException(
                $"The model's scheduler_config.json sets '{key}' to \"{value}\"; {className} takes {string.Join(" or ", allowed.Select(a => $"\"{a}\""))}.",
                "config");
    }

    /// <summary>A config value the reading class has but this engine does not implement: refused, never ignored.</summary>
    public static ArgumentException Unsupported(string className, string key, string what) =>
        new($"The model's scheduler_config.json sets '{key}' ({what}), which {className} reads and this engine does not implement; choose another scheduler.", "config");

    /// <summary>
    /// The sigma layout of Euler, LMS and DPM-Solver. An explicit Karras request (the <c>_karras</c> scheduler names)
    /// overrides the config's choice; otherwise at most one of use_karras_sigmas, use_exponential_sigmas and
    /// use_beta_sigmas may be set, as diffusers requires.
    /// </summary>
    public static SigmaSpread Spread(SchedulerConfig config, bool karras, string className, bool readsLuLambdas)
    {
        if (karras && !config.UseKarrasSigmas)
        {
            return SigmaSpread.Karras;
        }

        var chosen = (config.UseKarrasSigmas ? 1 : 0) + (config.UseExponentialSigmas ? 1 : 0) + (config.UseBetaSigmas ? 1 : 0);
        if (chosen > 1)
        {
            throw new ArgumentException(
                $"The model's scheduler_config.json sets more than one of 'use_karras_sigmas', 'use_exponential_sigmas' and 'use_beta_sigmas'; {className} takes one.",
                "config");
        }

        if (config.UseKarrasSigmas)
        {
            return SigmaSpread.Karras;
        }

        if (readsLuLambdas && config.UseLuLambdas)
        {
            return SigmaSpread.LuLambdas;
        }

        if (config.UseExponentialSigmas)
        {
            return SigmaSpread.Exponential;
        }

        return config.UseBetaSigmas
            ? throw Unsupported(className, "use_beta_sigmas", "beta-distribution sigmas need scipy's beta quantile function")
            : SigmaSpread.Interpolated;
    }

    public static void RejectKarras(bool karrasSigmas, SchedulerKind kind)
    {
        if (karrasSigmas)
        {
            throw new ArgumentException(
                $"The {kind} scheduler works on discrete timesteps and has no Karras sigma schedule; Karras sigmas are available for Euler, EulerAncestral, Lms and DpmPlusPlus2M.",
                nameof(karrasSigmas));
        }
    }
}
