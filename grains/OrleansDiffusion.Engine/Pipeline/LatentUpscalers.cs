using OrleansDiffusion.Engine.Numerics;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// The hires fix upscalers this engine runs, by AUTOMATIC1111's names: its latent upscalers without antialiasing.
/// Pixel upscalers (ESRGAN, Lanczos, ...) and the antialiased latent modes are not offered, and a name outside this list
/// is refused rather than mapped to something else.
/// </summary>
public static class LatentUpscalers
{
    /// <summary>A1111's default (<c>hr_upscaler</c> left out).</summary>
    public const string Default = "Latent";

    private static readonly (string Name, LatentUpscaleMode Mode)[] Known =
    [
        (Default, LatentUpscaleMode.Bilinear),
        ("Latent (nearest)", LatentUpscaleMode.Nearest),
        ("Latent (nearest-exact)", LatentUpscaleMode.NearestExact),
        ("Latent (bicubic)", LatentUpscaleMode.Bicubic),
    ];

    public static IReadOnlyList<string> Names { get; } = [.. Known.Select(k => k.Name)];

    /// <summary>The mode of an upscaler named exactly as A1111 names it.</summary>
    public static bool TryParse(string? name, out LatentUpscaleMode mode)
    {
        foreach (var known in Known)
        {
            if (string.Equals(known.Name, name, StringComparison.Ordinal))
            {
                mode = known.Mode;
                return true;
            }
        }

        mode = default;
        return false;
    }

    public static string Name(LatentUpscaleMode mode) => Known.First(k => k.Mode == mode).Name;

    /// <summary>The refusal of an unknown name, listing the supported ones.</summary>
    public static string Unsupported(string? name) =>
        $"Upscaler '{name}' is not supported: only latent upscalers run here ({string.Join(", ", Names)}).";
}
