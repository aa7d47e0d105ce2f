using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OrleansDiffusion.Engine.Imaging;

/// <summary>
/// What produced an image, in the vocabulary of AUTOMATIC1111's web UI, so that our PNGs paste into
/// A1111's "PNG Info" tab and tools that read its <c>parameters</c> text chunk (civitai, image browsers).
/// </summary>
/// <remarks>
/// <see cref="BatchIndex"/> and <see cref="ImageIndex"/> are bookkeeping for the caller: A1111's infotext no
/// longer carries batch positions, so they are not written and <see cref="ParseInfotext"/> leaves them null.
/// </remarks>
public sealed partial record GenerationParameters
{
    public required string Prompt { get; init; }

    /// <summary>Empty when there is none; the infotext then has no <c>Negative prompt:</c> line.</summary>
    public string NegativePrompt { get; init; } = "";

    public required int Steps { get; init; }

    /// <summary>A1111 display name: "Euler a", "DPM++ 2M", "DDIM".</summary>
    public required string SamplerName { get; init; }

    /// <summary>A1111 "Schedule type" ("Karras", "Exponential"); null writes none.</summary>
    public string? ScheduleType { get; init; }

    public required float GuidanceScale { get; init; }

    public required long Seed { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>Short hex hash of the checkpoint (A1111 writes the first 10 hex digits of its SHA-256).</summary>
    public string? ModelHash { get; init; }

    public string? ModelName { get; init; }

    /// <summary>img2img only: A1111 "Denoising strength".</summary>
    public float? Strength { get; init; }

    /// <summary>A1111 "Clip skip" (<c>CLIP_stop_at_last_layers</c>); written only above 1, as A1111 writes it.</summary>
    public int? ClipSkip { get; init; }

    /// <summary>Hires fix: A1111 "Hires upscale", the scale, when the hires size was given as one.</summary>
    public float? HiresUpscale { get; init; }

    /// <summary>Hires fix: A1111 "Hires resize" (<c>WxH</c>, 0 for a side left to the ratio), when given as a size.</summary>
    public string? HiresResize { get; init; }

    /// <summary>Hires fix: A1111 "Hires steps", written only when the second pass's steps were set (not 0).</summary>
    public int? HiresSteps { get; init; }

    /// <summary>Hires fix: A1111 "Hires upscaler" ("Latent", "Latent (nearest)", ...).</summary>
    public string? HiresUpscaler { get; init; }

    public int? BatchIndex { get; init; }

    public int? ImageIndex { get; init; }

    private const string NegativePromptPrefix = "Negative prompt:";

    /// <summary>Old A1111 infotexts folded the schedule into the sampler name ("DPM++ 2M Karras").</summary>
    private static readonly string[] LegacyScheduleSuffixes = [" Karras", " Exponential"];

    /// <summary>
    /// The infotext A1111's <c>create_infotext</c> writes: the prompt, an optional <c>Negative prompt:</c> line,
    /// then <c>Key: value</c> pairs in A1111's order, absent ones left out, the whole trimmed.
    /// </summary>
    /// <remarks>
    /// Values are JSON-quoted when they hold a comma, colon or newline, as A1111's <c>quote</c> does, and also
    /// when they hold a double quote: A1111 leaves those bare, which its own parser then misreads.
    /// Numbers use the shortest invariant form that round-trips, so CFG 7 is "7" and 7.5 is "7.5".
    /// </remarks>
    public string ToInfotext()
    {
        var parameters = new List<KeyValuePair<string, string>>(9)
        {
            new("Steps", Format(Steps)),
            new("Sampler", SamplerName),
        };
        if (!string.IsNullOrEmpty(ScheduleType))
        {
            parameters.Add(new("Schedule type", ScheduleType));
        }

        parameters.Add(new("CFG scale", Format(GuidanceScale)));
        parameters.Add(new("Seed", Format(Seed)));
        parameters.Add(new("Size", $"{Format(Width)}x{Format(Height)}"));
        if (!string.IsNullOrEmpty(ModelHash))
        {
            parameters.Add(new("Model hash", ModelHash));
        }

        if (!string.IsNullOrEmpty(ModelName))
        {
            parameters.Add(new("Model", ModelName));
        }

        if (Strength is { } strength)
        {
            parameters.Add(new("Denoising strength", Format(strength)));
        }

        if (ClipSkip is > 1 and var clipSkip)
        {
            parameters.Add(new("Clip skip", Format(clipSkip)));
        }

        // A1111's extra_generation_params of a hires pass, in the order its txt2img init adds them.
        if (HiresUpscale is { } upscale)
        {
            parameters.Add(new("Hires upscale", Format(upscale)));
        }

        if (!string.IsNullOrEmpty(HiresResize))
        {
            parameters.Add(new("Hires resize", HiresResize));
        }

        if (HiresSteps is { } hiresSteps)
        {
            parameters.Add(new("Hires steps", Format(hiresSteps)));
        }

        if (!string.IsNullOrEmpty(HiresUpscaler))
        {
            parameters.Add(new("Hires upscaler", HiresUpscaler));
        }

        var text = new StringBuilder(Prompt.Length + NegativePrompt.Length + 160);
        text.Append(Prompt);
        if (NegativePrompt.Length > 0)
        {
            text.Append('\n').Append(NegativePromptPrefix).Append(' ').Append(NegativePrompt);
        }

        text.Append('\n');
        for (var i = 0; i < parameters.Count; i++)
        {
            if (i > 0)
            {
                text.Append(", ");
            }

            text.Append(parameters[i].Key).Append(": ").Append(Quote(parameters[i].Value));
        }

        return text.ToString().Trim();
    }

    /// <summary>
    /// Reads an infotext the way A1111's <c>parse_generation_parameters</c> does. Returns null when the text has
    /// no parameter line or lacks one of Steps, Sampler, CFG scale, Seed and Size, or one of those is malformed.
    /// Unknown keys are ignored.
    /// </summary>
    public static GenerationParameters? ParseInfotext(string infotext)
    {
        ArgumentNullException.ThrowIfNull(infotext);

        var lines = infotext.Trim().Split('\n');
        var parameterLine = lines[^1];
        var promptLineCount = lines.Length - 1;
        // A1111's rule: a last line with fewer than three pairs is still prompt text.
        if (ParameterPattern().Count(parameterLine) < 3)
        {
            return null;
        }

        var prompt = new StringBuilder();
        var negativePrompt = new StringBuilder();
        var inNegative = false;
        for (var i = 0; i < promptLineCount; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith(NegativePromptPrefix, StringComparison.Ordinal))
            {
                inNegative = true;
                line = line[NegativePromptPrefix.Length..].Trim();
            }

            var target = inNegative ? negativePrompt : prompt;
            if (target.Length > 0)
            {
                target.Append('\n');
            }

            target.Append(line);
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match match in ParameterPattern().Matches(parameterLine))
        {
            values[match.Groups[1].Value.Trim()] = Unquote(match.Groups[2].Value.Trim());
        }

        if (!TryGetInt(values, "Steps", out var steps)
            || !values.TryGetValue("Sampler", out var sampler)
            || !TryGetFloat(values, "CFG scale", out var guidance)
            || !values.TryGetValue("Seed", out var seedText)
            || !long.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
            || !values.TryGetValue("Size", out var sizeText)
            || !TryParseSize(sizeText, out var width, out var height))
        {
            return null;
        }

        values.TryGetValue("Schedule type", out var scheduleType);
        if (scheduleType is null)
        {
            foreach (var suffix in LegacyScheduleSuffixes)
            {
                if (sampler.EndsWith(suffix, StringComparison.Ordinal))
                {
                    scheduleType = suffix[1..];
                    sampler = sampler[..^suffix.Length];
                    break;
                }
            }
        }

        return new GenerationParameters
        {
            Prompt = prompt.ToString(),
            NegativePrompt = negativePrompt.ToString(),
            Steps = steps,
            SamplerName = sampler,
            ScheduleType = scheduleType,
            GuidanceScale = guidance,
            Seed = seed,
            Width = width,
            Height = height,
            ModelHash = values.GetValueOrDefault("Model hash"),
            ModelName = values.GetValueOrDefault("Model"),
            Strength = TryGetFloat(values, "Denoising strength", out var strength) ? strength : null,
            ClipSkip = TryGetInt(values, "Clip skip", out var clipSkip) ? clipSkip : null,
            HiresUpscale = TryGetFloat(values, "Hires upscale", out var hiresUpscale) ? hiresUpscale : null,
            HiresResize = values.GetValueOrDefault("Hires resize"),
            HiresSteps = TryGetInt(values, "Hires steps", out var hiresSteps) ? hiresSteps : null,
            HiresUpscaler = values.GetValueOrDefault("Hires upscaler"),
        };
    }

    // A1111's re_param, unchanged: a key, then a JSON string or everything up to the next comma.
    [GeneratedRegex("""\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)""", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterPattern();

    private static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Format(float value) => value.ToString(CultureInfo.InvariantCulture);

    private static bool TryGetInt(Dictionary<string, string> values, string key, out int value)
    {
        value = 0;
        return values.TryGetValue(key, out var text)
            && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryGetFloat(Dictionary<string, string> values, string key, out float value)
    {
        value = 0;
        return values.TryGetValue(key, out var text)
            && float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryParseSize(string text, out int width, out int height)
    {
        width = height = 0;
        var separator = text.IndexOf('x', StringComparison.Ordinal);
        return separator > 0
            && int.TryParse(text.AsSpan(0, separator), NumberStyles.None, CultureInfo.InvariantCulture, out width)
            && int.TryParse(text.AsSpan(separator + 1), NumberStyles.None, CultureInfo.InvariantCulture, out height);
    }

    /// <summary>Python's <c>json.dumps(text, ensure_ascii=False)</c> for the values that need it.</summary>
    private static string Quote(string value)
    {
        if (value.AsSpan().IndexOfAny(",:\n\"") < 0)
        {
            return value;
        }

        var quoted = new StringBuilder(value.Length + 8).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                case '\b': quoted.Append("\\b"); break;
                case '\f': quoted.Append("\\f"); break;
                case < ' ': quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: quoted.Append(c); break;
            }
        }

        return quoted.Append('"').ToString();
    }

    private static string Unquote(string value)
    {
        if (value.Length < 2 || value[0] != '"' || value[^1] != '"')
        {
            return value;
        }

        try
        {
            return JsonSerializer.Deserialize<string>(value) ?? value;
        }
        catch (JsonException)
        {
            return value;
        }
    }
}
