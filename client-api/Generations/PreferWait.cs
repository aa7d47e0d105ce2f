using Microsoft.Extensions.Primitives;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// The <c>wait</c> preference of RFC 7240 (<c>Prefer: wait=N</c>): how long a submission may wait for its job to finish
/// before it answers 202. Other preferences in the header are ignored, as the RFC asks.
/// </summary>
public static class PreferWait
{
    /// <summary>The longest wait honoured; a longer one is applied as this (and <c>Preference-Applied</c> says so).</summary>
    public const int MaxSeconds = 60;

    public const string PreferHeader = "Prefer";

    public const string AppliedHeader = "Preference-Applied";

    /// <summary>
    /// The wait in seconds (capped at <see cref="MaxSeconds"/>), or null when the header asks none; false when the
    /// <c>wait</c> value is not a whole number of seconds (the request is refused with a 400).
    /// </summary>
    public static bool TryParse(StringValues prefer, out int? seconds)
    {
        seconds = null;
        foreach (var header in prefer)
        {
            foreach (var preference in (header ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var token = preference.Split(';', 2)[0];
                var equals = token.IndexOf('=', StringComparison.Ordinal);
                if (equals < 0 || !token[..equals].Trim().Equals("wait", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var value = token[(equals + 1)..].Trim().Trim('"');
                if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                {
                    return false;
                }

                seconds = Math.Min(n, MaxSeconds);
            }
        }

        return true;
    }
}
