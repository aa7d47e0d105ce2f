namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// One chunk of a prompt as the text encoder takes it: <see cref="ClipTokenizer.SequenceLength"/> ids (start, up to 75
/// content tokens, end, padding) and the attention weight of each (1 for the start, end and padding tokens).
/// </summary>
public sealed record PromptChunk(int[] Ids, double[] Weights)
{
    /// <summary>Whether every weight is 1: AUTOMATIC1111's emphasis then leaves the encoding as it is.</summary>
    public bool IsUnweighted => Array.TrueForAll(Weights, w => w == 1.0);
}
