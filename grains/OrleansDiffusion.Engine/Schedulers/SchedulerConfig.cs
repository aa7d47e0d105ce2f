using System.Globalization;
using System.Text.Json;

namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>
/// The training noise schedule and sampling options of a model, as diffusers writes them to
/// <c>scheduler/scheduler_config.json</c>: what each key says, not yet what a scheduler makes of it.
/// </summary>
/// <remarks>
/// diffusers builds a scheduler with <c>SomeScheduler.from_config(config)</c>: the class takes the keys its
/// <c>__init__</c> has, each missing key gets that class's own default, and the keys it has no argument for are
/// ignored. So a key whose default differs between classes (<c>beta_start</c>, <c>set_alpha_to_one</c>,
/// <c>clip_sample</c>, ...) is null here when the file does not set it, and every scheduler resolves it with its class's
/// default; keys whose default is the same in every class that reads them carry that default. A JSON null counts as
/// missing. Which scheduler reads which key is documented on each scheduler class and in docs/configuration.md.
/// </remarks>
public sealed record SchedulerConfig
{
    /// <summary>The SD 1.5 <c>scheduler_config.json</c> (PNDM, scaled_linear 0.00085 to 0.012).</summary>
    public static SchedulerConfig StableDiffusion15 { get; } = new()
    {
        ClassName = "PNDMScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = Schedulers.BetaSchedule.ScaledLinear,
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

    /// <summary><c>beta_start</c>. Null: the class default, 0.0001 (LCMScheduler: 0.00085).</summary>
    public double? BetaStart { get; init; }

    /// <summary><c>beta_end</c>. Null: the class default, 0.02 (LCMScheduler: 0.012).</summary>
    public double? BetaEnd { get; init; }

    /// <summary><c>beta_schedule</c>. Null: the class default, linear (LCMScheduler: scaled_linear).</summary>
    public BetaSchedule? BetaSchedule { get; init; }

    /// <summary><c>trained_betas</c>: explicit betas that replace the schedule. Default null.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; init; }

    /// <summary><c>steps_offset</c>: added to "leading" timesteps. Default 0.</summary>
    public int StepsOffset { get; init; }

    /// <summary><c>timestep_spacing</c>. Null: the class default (leading for DDIM, PNDM and LCM; linspace for the others).</summary>
    public TimestepSpacing? TimestepSpacing { get; init; }

    /// <summary>
    /// <c>set_alpha_to_one</c>: whether the step after timestep 0 is noise-free. Null: the class default, true for
    /// DDIMScheduler and LCMScheduler, false for PNDMScheduler (the only classes that read it).
    /// </summary>
    public bool? SetAlphaToOne { get; init; }

    /// <summary><c>skip_prk_steps</c> (PNDMScheduler): PLMS steps only, no Runge-Kutta warm-up. Default false.</summary>
    public bool SkipPrkSteps { get; init; }

    /// <summary>
    /// <c>clip_sample</c>: clamp the predicted clean sample to <see cref="ClipSampleRange"/>. Null: the class default,
    /// true for DDIMScheduler, false for LCMScheduler (the only classes that read it).
    /// </summary>
    public bool? ClipSample { get; init; }

    /// <summary><c>clip_sample_range</c> (DDIM, LCM). Default 1.0.</summary>
    public double ClipSampleRange { get; init; } = 1.0;

    /// <summary><c>thresholding</c> (DDIM, DPM++, LCM): Imagen's dynamic thresholding of the predicted clean sample. Default false.</summary>
    public bool Thresholding { get; init; }

    /// <summary><c>dynamic_thresholding_ratio</c>: the quantile of |x0| that sets the threshold. Default 0.995.</summary>
    public double DynamicThresholdingRatio { get; init; } = 0.995;

    /// <summary><c>sample_max_value</c>: the largest threshold dynamic thresholding may take. Default 1.0.</summary>
    public double SampleMaxValue { get; init; } = 1.0;

    /// <summary><c>prediction_type</c>. Default <see cref="PredictionType.Epsilon"/>.</summary>
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary><c>use_karras_sigmas</c> (Euler, LMS, DPM++): the Karras sigma schedule. Default false.</summary>
    public bool UseKarrasSigmas { get; init; }

    /// <summary><c>use_exponential_sigmas</c> (Euler, LMS, DPM++): sigmas evenly spaced in log sigma. Default false.</summary>
    public bool UseExponentialSigmas { get; init; }

    /// <summary><c>use_beta_sigmas</c> (Euler, LMS, DPM++): beta-distribution sigmas; not implemented, refused where read. Default false.</summary>
    public bool UseBetaSigmas { get; init; }

    /// <summary><c>use_lu_lambdas</c> (DPM++): timesteps evenly spaced in log-SNR (Lu et al.). Default false.</summary>
    public bool UseLuLambdas { get; init; }

    /// <summary><c>use_flow_sigmas</c> (DPM++): flow-matching sigmas; not implemented, refused where read. Default false.</summary>
    public bool UseFlowSigmas { get; init; }

    /// <summary><c>sigma_min</c> (Euler): the low end of Karras and exponential sigmas. Default null (the schedule's own).</summary>
    public double? SigmaMin { get; init; }

    /// <summary><c>sigma_max</c> (Euler): the high end of Karras and exponential sigmas. Default null (the schedule's own).</summary>
    public double? SigmaMax { get; init; }

    /// <summary><c>interpolation_type</c> (Euler): "linear" or "log_linear". Default null ("linear").</summary>
    public string? InterpolationType { get; init; }

    /// <summary><c>timestep_type</c> (Euler): "discrete" or "continuous" (with v_prediction, the UNet gets 0.25 ln sigma). Default null ("discrete").</summary>
    public string? TimestepType { get; init; }

    /// <summary><c>final_sigmas_type</c> (Euler, DPM++): "zero" or "sigma_min", the sigma the last step ends on. Default null ("zero").</summary>
    public string? FinalSigmasType { get; init; }

    /// <summary><c>solver_type</c> (DPM++): "midpoint" or "heun" for the second-order step. Default null ("midpoint").</summary>
    public string? SolverType { get; init; }

    /// <summary><c>lower_order_final</c> (DPM++): first order at the last step when there are fewer than 15. Default true.</summary>
    public bool LowerOrderFinal { get; init; } = true;

    /// <summary><c>euler_at_final</c> (DPM++): always first order at the last step. Default false.</summary>
    public bool EulerAtFinal { get; init; }

    /// <summary><c>lambda_min_clipped</c> (DPM++): log-SNR below which timesteps are not used. Default negative infinity.</summary>
    public double LambdaMinClipped { get; init; } = double.NegativeInfinity;

    /// <summary><c>variance_type</c> (DPM++): null, or "learned" / "learned_range" (a UNet that also predicts variance; refused). Default null.</summary>
    public string? VarianceType { get; init; }

    /// <summary><c>rescale_betas_zero_snr</c> (DDIM, Euler, Euler a, DPM++, LCM): rescale so the last timestep is pure noise. Default false.</summary>
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
        using var document = ParseDocument(json, source);
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
            BetaStart = reader.Double("beta_start"),
            BetaEnd = reader.Double("beta_end"),
            BetaSchedule = reader.Choice("beta_schedule", BetaScheduleNames),
            TrainedBetas = reader.DoubleArray("trained_betas"),
            StepsOffset = reader.Int("steps_offset") ?? 0,
            TimestepSpacing = reader.Choice("timestep_spacing", SpacingNames),
            SetAlphaToOne = reader.Bool("set_alpha_to_one"),
            SkipPrkSteps = reader.Bool("skip_prk_steps") ?? false,
            ClipSample = reader.Bool("clip_sample"),
            ClipSampleRange = reader.Double("clip_sample_range") ?? 1.0,
            Thresholding = reader.Bool("thresholding") ?? false,
            DynamicThresholdingRatio = reader.Double("dynamic_thresholding_ratio") ?? 0.995,
            SampleMaxValue = reader.Double("sample_max_value") ?? 1.0,
            PredictionType = reader.Choice("prediction_type", PredictionNames) ?? PredictionType.Epsilon,
            UseKarrasSigmas = reader.Bool("use_karras_sigmas") ?? false,
            UseExponentialSigmas = reader.Bool("use_exponential_sigmas") ?? false,
            UseBetaSigmas = reader.Bool("use_beta_sigmas") ?? false,
            UseLuLambdas = reader.Bool("use_lu_lambdas") ?? false,
            UseFlowSigmas = reader.Bool("use_flow_sigmas") ?? false,
            SigmaMin = reader.Double("sigma_min"),
            SigmaMax = reader.Double("sigma_max"),
            InterpolationType = reader.String("interpolation_type"),
            TimestepType = reader.String("timestep_type"),
            FinalSigmasType = reader.String("final_sigmas_type"),
            SolverType = reader.String("solver_type"),
            LowerOrderFinal = reader.Bool("lower_order_final") ?? true,
            EulerAtFinal = reader.Bool("euler_at_final") ?? false,
            LambdaMinClipped = reader.Double("lambda_min_clipped") ?? double.NegativeInfinity,
            VarianceType = reader.String("variance_type"),
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

    /// <summary>
    /// Parses JSON, and failing that the same text with Python's bare <c>NaN</c>, <c>Infinity</c> and
    /// <c>-Infinity</c> turned into strings: diffusers saves configs with Python's json module, which writes
    /// <c>"lambda_min_clipped": -Infinity</c>, and that is not JSON.
    /// </summary>
    private static JsonDocument ParseDocument(string json, string source)
    {
        var options = new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };
        try
        {
            return JsonDocument.Parse(json, options);
        }
        catch (JsonException ex)
        {
            if (QuotePythonLiterals(json) is { } quoted)
            {
                try
                {
                    return JsonDocument.Parse(quoted, options);
                }
                catch (JsonException)
                {
                    // Report the error in the text as written.
                }
            }

            throw new InvalidDataException($"{source}: not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>The text with every bare NaN, Infinity and -Infinity outside strings quoted, or null when there is none.</summary>
    private static string? QuotePythonLiterals(string json)
    {
        var builder = new System.Text.StringBuilder(json.Length + 16);
        var inString = false;
        var changed = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                builder.Append(c);
                if (c == '\\' && i + 1 < json.Length)
                {
                    builder.Append(json[++i]);
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (PythonLiteralAt(json, i) is { } literal)
            {
                builder.Append('"').Append(literal).Append('"');
                i += literal.Length - 1;
                changed = true;
                continue;
            }

            inString = c == '"';
            builder.Append(c);
        }

        return changed ? builder.ToString() : null;
    }

    private static readonly string[] PythonLiterals = ["-Infinity", "Infinity", "NaN"];

    private static string? PythonLiteralAt(string json, int index)
    {
        foreach (var literal in PythonLiterals)
        {
            if (string.CompareOrdinal(json, index, literal, 0, literal.Length) == 0)
            {
                return literal;
            }
        }

        return null;
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
            if (BetaStart is { } start && !(start > 0 && start < 1))
            {
                return $"'beta_start' must lie in (0, 1), found {Format(start)}.";
            }

            if (BetaEnd is { } end && !(end > 0 && end < 1))
            {
                return $"'beta_end' must lie in (0, 1), found {Format(end)}.";
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

        if (!(DynamicThresholdingRatio > 0 && DynamicThresholdingRatio <= 1))
        {
            return $"'dynamic_thresholding_ratio' must lie in (0, 1], found {Format(DynamicThresholdingRatio)}.";
        }

        if (!(SampleMaxValue > 0))
        {
            return $"'sample_max_value' must be positive, found {Format(SampleMaxValue)}.";
        }

        if (SigmaMin is { } sigmaMin && !(sigmaMin > 0 && double.IsFinite(sigmaMin)))
        {
            return $"'sigma_min' must be positive, found {Format(sigmaMin)}.";
        }

        if (SigmaMax is { } sigmaMax && !(sigmaMax > (SigmaMin ?? 0) && double.IsFinite(sigmaMax)))
        {
            return $"'sigma_max' must be positive and above 'sigma_min', found {Format(sigmaMax)}.";
        }

        if (double.IsNaN(LambdaMinClipped) || double.IsPositiveInfinity(LambdaMinClipped))
        {
            return $"'lambda_min_clipped' must be a number or -Infinity, found {Format(LambdaMinClipped)}.";
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
        ("linear", Schedulers.BetaSchedule.Linear),
        ("scaled_linear", Schedulers.BetaSchedule.ScaledLinear),
        ("squaredcos_cap_v2", Schedulers.BetaSchedule.SquaredCosCapV2),
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

        public double? Double(string key)
        {
            if (Find(key) is not { } e)
            {
                return null;
            }

            // Python's json writes infinities and NaN as bare words; ParseDocument has quoted them.
            if (e.ValueKind == JsonValueKind.String)
            {
                return e.GetString() switch
                {
                    "-Infinity" => double.NegativeInfinity,
                    "Infinity" => double.PositiveInfinity,
                    "NaN" => double.NaN,
                    _ => throw Invalid(key, $"must be a number, found {e.GetRawText()}"),
                };
            }

            return ExpectKind(key, e, JsonValueKind.Number).GetDouble();
        }

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
