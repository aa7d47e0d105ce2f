namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>The names of <see cref="InpaintFill"/> in specs, request keys and the native API.</summary>
public static class InpaintFills
{
    /// <summary><c>fill</c>, <c>original</c>, <c>latent_noise</c>, <c>latent_nothing</c>, in A1111's order (its numbers 0 to 3).</summary>
    public static IReadOnlyList<string> Names { get; } = ["fill", "original", "latent_noise", "latent_nothing"];

    public static string Name(InpaintFill fill) =>
        Enum.IsDefined(fill) ? Names[(int)fill] : throw new ArgumentOutOfRangeException(nameof(fill), fill, "Unknown fill.");

    /// <summary>Reads a name (exactly as <see cref="Names"/> spells it).</summary>
    public static bool TryParse(string? name, out InpaintFill fill)
    {
        for (var i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.Ordinal))
            {
                fill = (InpaintFill)i;
                return true;
            }
        }

        fill = InpaintFill.Original;
        return false;
    }
}
