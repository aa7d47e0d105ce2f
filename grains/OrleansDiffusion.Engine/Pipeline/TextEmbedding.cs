namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// An encoded prompt: <c>[Sequence, Hidden]</c> floats, 77 tokens per chunk; for SDXL also the pooled, projected
/// embedding of its first chunk (<c>text_embeds</c>), which the UNet takes beside the states.
/// </summary>
internal sealed record TextEmbedding(float[] Values, int Sequence, int Hidden)
{
    /// <summary>SDXL: the second text encoder's <c>text_embeds</c> of chunk 0, as AUTOMATIC1111 pools; null otherwise.</summary>
    public float[]? Pooled { get; init; }

    public int Chunks => Sequence / Tokenization.ClipTokenizer.SequenceLength;

    /// <summary>
    /// <see cref="Values"/> came from <see cref="Numerics.ExactArrayPool"/>: the run that encoded it returns it when it
    /// ends. One derived with new values (<see cref="ZerosLike"/>, padding) is not.
    /// </summary>
    public bool FromPool { get; init; }

    /// <summary>
    /// All zeros in the shape of this embedding: SDXL's unconditional input for an empty negative prompt when the model
    /// asks for it (<c>force_zeros_for_empty_prompt</c>).
    /// </summary>
    public TextEmbedding ZerosLike() => this with
    {
        FromPool = false,
        Values = new float[Values.Length],
        Pooled = Pooled is null ? null : new float[Pooled.Length],
    };
}
