using System.Text;
using Microsoft.ML.Tokenizers;

namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// CLIP's text clean-up: Unicode NFC, runs of whitespace collapsed to one space, trimmed, lower-cased.
/// </summary>
internal sealed class ClipNormalizer : Normalizer
{
    public override string Normalize(string original) => Normalize(original.AsSpan());

    public override string Normalize(ReadOnlySpan<char> original)
    {
        var composed = original.ToString().Normalize(NormalizationForm.FormC);
        var builder = new StringBuilder(composed.Length);
        var pendingSpace = false;
        foreach (var c in composed)
        {
            if (char.IsWhiteSpace(c))
            {
                pendingSpace = builder.Length > 0;
                continue;
            }

            if (pendingSpace)
            {
                builder.Append(' ');
                pendingSpace = false;
            }

            builder.Append(c);
        }

        return builder.ToString().ToLowerInvariant();
    }
}
