namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>An encoded prompt: <c>[Sequence, Hidden]</c> floats, 77 tokens per chunk.</summary>
internal sealed record TextEmbedding(float[] Values, int Sequence, int Hidden)
{
    public int Chunks => Sequence / Tokenization.ClipTokenizer.SequenceLength;
}
