namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// AUTOMATIC1111's way of cutting a weighted prompt into chunks (<c>tokenize_line</c> in its <c>sd_hijack_clip.py</c>),
/// so that a long prompt written for A1111 is encoded the same way: each run of <see cref="PromptAttention"/> is
/// tokenized on its own, its tokens carry its weight, chunks hold 75 tokens, <c>BREAK</c> ends a chunk, and a full
/// chunk whose last comma is at most <see cref="CommaBacktrack"/> tokens back ends after that comma instead (the rest
/// moves to the next chunk, so a phrase is not cut in two).
/// </summary>
internal static class PromptChunker
{
    /// <summary>Content tokens per chunk.</summary>
    public const int ChunkLength = ClipTokenizer.MaxContentTokens;

    /// <summary>A1111's <c>comma_padding_backtrack</c> default.</summary>
    public const int CommaBacktrack = 20;

    public static ChunkedPrompt Chunk(
        string prompt,
        Func<string, IReadOnlyList<int>> encode,
        int startId,
        int endId,
        int padId,
        int? commaId)
    {
        var runs = PromptAttention.Parse(prompt);
        var chunks = new List<PromptChunk>();
        var tokens = new List<int>(ChunkLength);
        var weights = new List<double>(ChunkLength);
        var tokenCount = 0;
        var lastComma = -1;

        void NextChunk(bool isLast)
        {
            tokenCount += isLast ? tokens.Count : ChunkLength;
            var ids = new int[ClipTokenizer.SequenceLength];
            var multipliers = new double[ClipTokenizer.SequenceLength];
            Array.Fill(ids, endId);
            Array.Fill(multipliers, 1.0);
            ids[0] = startId;
            tokens.CopyTo(ids, 1);
            weights.CopyTo(multipliers, 1);

            // Tokenizers whose padding is not the end token (SD 2.x's "!") pad after the first end token.
            if (padId != endId)
            {
                for (var i = Array.IndexOf(ids, endId) + 1; i < ids.Length; i++)
                {
                    ids[i] = padId;
                }
            }

            chunks.Add(new PromptChunk(ids, multipliers));
            tokens.Clear();
            weights.Clear();
            lastComma = -1;
        }

        foreach (var run in runs)
        {
            if (run.IsBreak)
            {
                NextChunk(isLast: false);
                continue;
            }

            foreach (var token in encode(run.Text))
            {
                if (token == commaId)
                {
                    lastComma = tokens.Count;
                }
                else if (tokens.Count == ChunkLength && lastComma != -1 && tokens.Count - lastComma <= CommaBacktrack)
                {
                    var cut = lastComma + 1;
                    var movedTokens = tokens[cut..];
                    var movedWeights = weights[cut..];
                    tokens.RemoveRange(cut, tokens.Count - cut);
                    weights.RemoveRange(cut, weights.Count - cut);
                    NextChunk(isLast: false);
                    tokens.AddRange(movedTokens);
                    weights.AddRange(movedWeights);
                }

                if (tokens.Count == ChunkLength)
                {
                    NextChunk(isLast: false);
                }

                tokens.Add(token);
                weights.Add(run.Weight);
            }
        }

        if (tokens.Count > 0 || chunks.Count == 0)
        {
            NextChunk(isLast: true);
        }

        return new ChunkedPrompt(chunks, tokenCount);
    }
}
