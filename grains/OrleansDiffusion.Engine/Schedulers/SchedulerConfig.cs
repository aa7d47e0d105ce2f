using System.Globalization;
using System.Text.Json;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The training noise schedule and sampling options of a model, as diffusers writes them to
/// <c>scheduler/scheduler_config.json</c>. Every property defaults to diffusers' default for that key.
/// </summary>
public sealed record SchedulerConfig
{
    /// <summary>The SD 1.5 <c>scheduler_config.json</c> (PNDM, scaled_linear 0.00085 to 0.012).</summary>
    public static SchedulerConfig StableDiffusion15 { get; } = new()
    {
        ClassName = "PNDMScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = BetaSchedule.ScaledLinear,
        SkipPrkSteps = true,
        StepsOffset = 1,
        SetAlphaToOne = false,
        ClipSample = false,
        PredictionType = PredictionType.Epsilon,
    };

    /// <summary><c>_class_name</c>: the diffusers scheduler the model ships with. Default null (unknown).</summary>
    public string? ClassName { get; init; }

    /// <summary><c>num_train_timesteps</c>. Default 1000.</summary>
    public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary><c>beta_start</c>. Default 0.0001.</summary>
    public double BetaStart { get; init; } = 0.0001;

    /// <summary><c>beta_end</c>. Default 0.02.</summary>
    public double BetaEnd { get; init; } = 0.02;

    /// <summary><c>beta_schedule</c>. Default <see cref="BetaSchedule.Linear"/>.</summary>
    public BetaSchedule BetaSchedule { get; init; } = BetaSchedule.Linear;

    /// <summary><c>trained_betas</c>: explicit betas that replace the schedule. Default null.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; init; }

    /// <summary><c>steps_offset</c>: added to "leading" timesteps. Default 0.</summary>
    public int StepsOffset { get; init; }

    /// <summary><c>timestep_spacing</c>. Default null: each scheduler's own diffusers default.</summary>
    public TimestepSpacing? TimestepSpacing { get; init; }

    /// <summary><c>set_alpha_to_one</c>: whether the step after timestep 0 is noise-free (DDIM, PNDM). Default true.</summary>
    public bool SetAlphaToOne { get; init; } = true;

    /// <summary><c>skip_prk_steps</c> (PNDM). Default false; the engine always runs PLMS steps.</summary>
    public bool SkipPrkSteps { get; init; }

    /// <summary>
    /// <c>clip_sample</c>: clamp the predicted clean sample (DDIM, LCM). Default false here; diffusers' DDIM
    /// defaults to true, but Stable Diffusion configs always set it, to false.
    /// </summary>
    public bool ClipSample { get; init; }

    /// <summary><c>clip_sample_range</c>. Default 1.0.</summary>
    public double ClipSampleRange { get; init; } = 1.0;

    /// <summary><c>prediction_type</c>. Default <see cref="PredictionType.Epsilon"/>.</summary>
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary><c>use_karras_sigmas</c>: use the Karras schedule where the scheduler supports it. Default false.</summary>
    public bool UseKarrasSigmas { get; init; }

    /// <summary><c>rescale_betas_zero_snr</c>: rescale so the last timestep is pure noise. Default false.</summary>
    public bool RescaleBetasZeroSnr { get; init; }

    /// <summary><c>original_inference_steps</c> (LCM): the distillation schedule's length. Default 50.</summary>
    public int OriginalInferenceSteps { get; init; } = 50;

    /// <summary><c>timestep_scaling</c> (LCM): scales timesteps in the boundary condition. Default 10.0.</summary>
    public double TimestepScaling { get; init; } = 10.0;

    /// <summary>Reads a <c>scheduler_config.json</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON or holds an invalid value; the message names the file.</exception>
    public static SchedulerConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses the text of a <c>scheduler_config.json</c>. Unknown keys are ignored.</summary>
    /// <exception cref="InvalidDataException">The text is not valid JSON or holds an invalid value.</exception>
    public static SchedulerConfig Parse(string json) => Parse(json, "scheduler config");

    private static SchedulerConfig Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions
            {
                AllowTrailingCommas = true,
                CommentHandling = JsonCommentHandling.Skip,
            });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{source}: expected a JSON object, found {root.ValueKind}.");
            }

            var reader = new Reader(root, source);
            var config = new SchedulerConfig
            {
                ClassName = reader.String("_class_name"),
                NumTrainTimesteps = reader.Int("num_train_timesteps") ?? 1000,
                BetaStart = reader.Double("beta_start") ?? 0.0001,
                BetaEnd = reader.Double("beta_end") ?? 0.02,
                BetaSchedule = reader.Choice("beta_schedule", BetaScheduleNames) ?? BetaSchedule.Linear,
                TrainedBetas = reader.DoubleArray("trained_betas"),
                StepsOffset = reader.Int("steps_offset") ?? 0,
                TimestepSpacing = reader.Choice("timestep_spacing", SpacingNames),
                SetAlphaToOne = reader.Bool("set_alpha_to_one") ?? true,
                SkipPrkSteps = reader.Bool("skip_prk_steps") ?? false,
                ClipSample = reader.Bool("clip_sample") ?? false,
                ClipSampleRange = reader.Double("clip_sample_range") ?? 1.0,
                PredictionType = reader.Choice("prediction_type", PredictionNames) ?? PredictionType.Epsilon,
                UseKarrasSigmas = reader.Bool("use_karras_sigmas") ?? false,
                RescaleBetasZeroSnr = reader.Bool("rescale_betas_zero_snr") ?? false,
                OriginalInferenceSteps = reader.Int("original_inference_steps") ?? 50,
                TimestepScaling = reader.Double("timestep_scaling") ?? 10.0,
            };

            if (config.FindProblem() is { } problem)
            {
                throw new InvalidDataException($"{source}: {problem}");
            }

            return config;
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> when a value makes the schedule meaningless.</summary>
    internal void Validate()
    {
        if (FindProblem() is { } problem)
        {
            throw new ArgumentException($"Invalid scheduler configuration: {problem}", "config");
        }
    }

    /// <summary>The first value that makes no sense, described for a person, or null when all is well.</summary>
    private string? FindProblem()
    {
        if (NumTrainTimesteps < 2)
        {
            return $"'num_train_timesteps' must be at least 2, found {NumTrainTimesteps}.";
        }

        if (TrainedBetas is { } trained)
        {
            if (trained.Count != NumTrainTimesteps)
            {
                return $"'trained_betas' has {trained.Count} values but 'num_train_timesteps' is {NumTrainTimesteps}.";
            }

            for (var i = 0; i < trained.Count; i++)
            {
                if (!(trained[i] > 0 && trained[i] < 1))
                {
                    return $"'trained_betas'[{i}] must lie in (0, 1), found {Format(trained[i])}.";
                }
            }
        }
        else
        {
            if (!(BetaStart > 0 && BetaStart < 1))
            {
                return $"'beta_start' must lie in (0, 1), found {Format(BetaStart)}.";
            }

            if (!(BetaEnd > 0 && BetaEnd < 1))
            {
                return $"'beta_end' must lie in (0, 1), found {Format(BetaEnd)}.";
            }
        }

        if (StepsOffset < 0)
        {
            return $"'steps_offset' must not be negative, found {StepsOffset}.";
        }

        if (!(ClipSampleRange > 0))
        {
            return $"'clip_sample_range' must be positive, found {Format(ClipSampleRange)}.";
        }

        if (OriginalInferenceSteps < 1 || OriginalInferenceSteps > NumTrainTimesteps)
        {
            return $"'original_inference_steps' must lie in [1, {NumTrainTimesteps}], found {OriginalInferenceSteps}.";
        }

        return double.IsFinite(TimestepScaling) && TimestepScaling > 0
            ? null
            : $"'timestep_scaling' must be positive, found {Format(TimestepScaling)}.";
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static readonly (string Name, BetaSchedule Value)[] BetaScheduleNames =
    [
        ("linear", BetaSchedule.Linear),
        ("scaled_linear", BetaSchedule.ScaledLinear),
        ("squaredcos_cap_v2", BetaSchedule.SquaredCosCapV2),
    ];

    private static readonly (string Name, PredictionType Value)[] PredictionNames =
    [
        ("epsilon", PredictionType.Epsilon),
        ("v_prediction", PredictionType.VPrediction),
        ("sample", PredictionType.Sample),
    ];

    private static readonly (string Name, TimestepSpacing Value)[] SpacingNames =
    [
        ("linspace", Schedulers.TimestepSpacing.Linspace),
        ("leading", Schedulers.TimestepSpacing.Leading),
        ("trailing", Schedulers.TimestepSpacing.Trailing),
    ];

    /// <summary>Typed reads of optional keys; JSON null and a missing key both mean "use the default".</summary>
    private readonly struct Reader(JsonElement root, string source)
    {
        public string? String(string key) => Find(key) is { } e ? ExpectKind(key, e, JsonValueKind.String).GetString() : null;

        public bool? Bool(string key)
        {
            if (Find(key) is not { } e)
            {
                return null;
            }

            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Invalid(key, $"must be true or false, found {e.ValueKind}"),
            };
        }

        public double? Double(string key) => Find(key) is { } e ? ExpectKind(key, e, JsonValueKind.Number).GetDouble() : null;

        public int? Int(string key)
        {
            if (Find(key) is not { } e)
            {
                return null;
            }

            // Some exporters write integral values as 1000.0; accept those, reject 0.5.
            var value = ExpectKind(key, e, JsonValueKind.Number).GetDouble();
            if (value != Math.Floor(value) || value < int.MinValue || value > int.MaxValue)
            {
                throw Invalid(key, $"must be an integer, found {e.GetRawText()}");
            }

            return (int)value;
        }

        public double[]? DoubleArray(string key)
        {
            if (Find(key) is not { } e)
            {
                return null;
            }

            var array = ExpectKind(key, e, JsonValueKind.Array);
            var values = new double[array.GetArrayLength()];
            var i = 0;
            foreach (var item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number)
                {
                    throw Invalid(key, $"must hold only numbers, found {item.ValueKind} at index {i}");
                }

                values[i++] = item.GetDouble();
            }

            return values;
        }

        public T? Choice<T>(string key, (string Name, T Value)[] choices)
            where T : struct, Enum
        {
            if (String(key) is not { } text)
            {
                return null;
            }

            foreach (var (name, value) in choices)
            {
                if (string.Equals(name, text, StringComparison.Ordinal))
                {
                    return value;
                }
            }

            var expected = string.Join(", ", choices.Select(c => $"\"{c.Name}\""));
            throw Invalid(key, $"is \"{text}\", expected one of {expected}");
        }

        private JsonElement? Find(string key) =>
            root.TryGetProperty(key, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

        private JsonElement ExpectKind(string key, JsonElement e, JsonValueKind kind) =>
            e.ValueKind == kind ? e : throw Invalid(key, $"must be a {kind.ToString().ToLowerInvariant()}, found {e.ValueKind}");

        private InvalidDataException Invalid(string key, string problem) => new($"{source}: '{key}' {problem}.");
    }
}
