using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>
/// Mark ids of the input kinds: an input (<c>inputs/{hex}</c>: an init image or an inpainting mask) is marked as
/// <c>{hex}</c>, and its use by an inference as <c>{hex}.{request key}</c>.
/// </summary>
internal static class InputUse
{
    /// <summary>The stored inputs a spec reads: its init image and its mask, each kept alike by retention.</summary>
    public static IEnumerable<string> KeysOf(GenerationSpec spec)
    {
        if (spec.InitImageKey is { } initImage)
        {
            yield return initImage;
        }

        if (spec.MaskKey is { } mask)
        {
            yield return mask;
        }
    }

    /// <summary>Whether <paramref name="spec"/> reads the input <paramref name="inputKey"/>.</summary>
    public static bool Reads(GenerationSpec spec, string inputKey) => KeysOf(spec).Contains(inputKey, StringComparer.Ordinal);

    public static string InputIdOf(string inputKey)
    {
        ImageKeys.Validate(inputKey);
        if (ImageKeys.IsImage(inputKey))
        {
            throw new ArgumentException($"'{inputKey}' is a generated image, not an input.", nameof(inputKey));
        }

        return inputKey[ImageKeys.InputPrefix.Length..];
    }

    public static string IdOf(string inputKey, string requestKey) => InputIdOf(inputKey) + "." + requestKey;

    /// <summary>The input key of an <see cref="RetentionKind.Inputs"/> mark id.</summary>
    public static string InputKeyOf(string inputId) => ImageKeys.InputPrefix + inputId;

    /// <summary>Splits an <see cref="RetentionKind.InputUses"/> mark id; false for an id of another shape.</summary>
    public static bool TryParse(string id, out string inputKey, out string requestKey)
    {
        var dot = id.IndexOf('.', StringComparison.Ordinal);
        inputKey = dot > 0 ? InputKeyOf(id[..dot]) : string.Empty;
        requestKey = dot > 0 ? id[(dot + 1)..] : string.Empty;
        return dot > 0 && requestKey.Length > 0;
    }
}
