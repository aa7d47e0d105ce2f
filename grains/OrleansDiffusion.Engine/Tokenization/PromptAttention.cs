using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// AUTOMATIC1111's attention syntax, read as its <c>parse_prompt_attention</c> reads it, so that a prompt written for
/// A1111 weighs the same words the same here: <c>(text)</c> multiplies the weight by 1.1, <c>[text]</c> divides it by 1.1,
/// <c>(text:1.3)</c> multiplies it by 1.3, nesting multiplies, <c>\(</c> <c>\)</c> <c>\[</c> <c>\]</c> <c>\\</c> are
/// literal characters (any other backslash is dropped), a closing bracket with nothing open is text, an unclosed
/// bracket applies to the end of the prompt, a <c>:</c> not followed by a number and <c>)</c> is text, the word
/// <c>BREAK</c> (upper case) starts a new chunk, and neighbouring runs of equal weight merge.
/// </summary>
/// <remarks>
/// Weights are doubles multiplied in A1111's order, so that they equal A1111's to the last bit (<c>((a))</c> is
/// 1.2100000000000002). A1111's prompt editing (<c>[a:b:N]</c>), alternation (<c>[a|b]</c>) and <c>AND</c> are another
/// grammar, not read here: their characters are weighed as this syntax sees them. Where A1111 fails on a weight that is
/// not a number (<c>(a:1.2.3)</c>) this throws <see cref="InvalidPromptException"/>, and also where a weight is not
/// finite (A1111 would compute with it).
/// </remarks>
public static partial class PromptAttention
{
    /// <summary>What <c>(text)</c> multiplies the weight by.</summary>
    public const double RoundBracketMultiplier = 1.1;

    /// <summary>What <c>[text]</c> multiplies the weight by.</summary>
    public const double SquareBracketMultiplier = 1 / 1.1;

    /// <summary>The word that ends a chunk.</summary>
    public const string Break = "BREAK";

    /// <summary>Parses <paramref name="prompt"/>; throws <see cref="InvalidPromptException"/> when a weight is not a finite number.</summary>
    public static IReadOnlyList<WeightedText> Parse(string prompt) =>
        TryParse(prompt, out var parsed, out var error) ? parsed : throw new InvalidPromptException(error);

    /// <summary>Parses <paramref name="prompt"/>; false with a message naming the bad weight when one is not a finite number.</summary>
    public static bool TryParse(string prompt, out IReadOnlyList<WeightedText> parsed, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var texts = new List<string>();
        var weights = new List<double>();
        var round = new List<int>();
        var square = new List<int>();
        parsed = [];
        error = null;

        void MultiplyFrom(int start, double multiplier)
        {
            for (var p = start; p < weights.Count; p++)
            {
                weights[p] *= multiplier;
            }
        }

        foreach (Match match in AttentionToken().Matches(prompt))
        {
            var text = match.Value;
            var weight = match.Groups[1];
            if (text[0] == '\\')
            {
                texts.Add(text[1..]);
                weights.Add(1.0);
            }
            else if (text == "(")
            {
                round.Add(texts.Count);
            }
            else if (text == "[")
            {
                square.Add(texts.Count);
            }
            else if (weight.Success && round.Count > 0)
            {
                if (!TryParseWeight(weight.Value, out var multiplier))
                {
                    error = $"The attention weight '{weight.Value}' in '{text}' (at character {match.Index + 1}) is not a number.";
                    return false;
                }

                MultiplyFrom(Pop(round), multiplier);
            }
            else if (text == ")" && round.Count > 0)
            {
                MultiplyFrom(Pop(round), RoundBracketMultiplier);
            }
            else if (text == "]" && square.Count > 0)
            {
                MultiplyFrom(Pop(square), SquareBracketMultiplier);
            }
            else
            {
                var parts = BreakWord().Split(text);
                for (var i = 0; i < parts.Length; i++)
                {
                    if (i > 0)
                    {
                        texts.Add(Break);
                        weights.Add(-1);
                    }

                    texts.Add(parts[i]);
                    weights.Add(1.0);
                }
            }
        }

        // Unclosed brackets reach to the end, the round ones first, as in A1111.
        foreach (var start in round)
        {
            MultiplyFrom(start, RoundBracketMultiplier);
        }

        foreach (var start in square)
        {
            MultiplyFrom(start, SquareBracketMultiplier);
        }

        if (texts.Count == 0)
        {
            texts.Add(string.Empty);
            weights.Add(1.0);
        }

        var result = new List<WeightedText>(texts.Count);
        var run = new StringBuilder(texts[0]);
        var runWeight = weights[0];
        for (var i = 1; i <= texts.Count; i++)
        {
            if (i < texts.Count && weights[i] == runWeight)
            {
                run.Append(texts[i]);
                continue;
            }

            if (!double.IsFinite(runWeight))
            {
                error = $"The attention weight of '{run}' is not a finite number.";
                return false;
            }

            result.Add(new WeightedText(run.ToString(), runWeight));
            if (i < texts.Count)
            {
                run.Clear().Append(texts[i]);
                runWeight = weights[i];
            }
        }

        parsed = result;
        return true;
    }

    private static int Pop(List<int> stack)
    {
        var top = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return top;
    }

    /// <summary>
    /// Python's <c>float()</c> on what A1111's pattern matched (<c>[+-]?[.\d]+</c>): one optional sign, digits and at
    /// most one point with a digit somewhere; digits of any script, as Python reads them.
    /// </summary>
    private static bool TryParseWeight(string text, out double value)
    {
        var ascii = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            ascii.Append(char.IsDigit(c) ? (char)('0' + (int)char.GetNumericValue(c)) : c);
        }

        return double.TryParse(ascii.ToString(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value)
            && double.IsFinite(value);
    }

    // A1111's re_attention, alternative for alternative: escaped brackets and backslash, a lone backslash, opening
    // brackets, ":weight)", closing brackets, a run of plain text, a lone colon.
    [GeneratedRegex(@"\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")]
    private static partial Regex AttentionToken();

    // A1111's re_break: the upper-case word BREAK and the whitespace around it.
    [GeneratedRegex(@"\s*\bBREAK\b\s*")]
    private static partial Regex BreakWord();
}
