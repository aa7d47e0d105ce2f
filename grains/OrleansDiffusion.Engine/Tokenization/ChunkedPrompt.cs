namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>A prompt cut into chunks of 75 tokens as AUTOMATIC1111 cuts it (see <see cref="ClipTokenizer.Chunk"/>).</summary>
/// <param name="Chunks">At least one chunk; the empty prompt is one chunk of start, end and padding.</param>
/// <param name="TokenCount">
/// The count A1111's prompt box shows: 75 for every chunk before the last (padding included), plus the last chunk's
/// tokens.
/// </param>
public sealed record ChunkedPrompt(IReadOnlyList<PromptChunk> Chunks, int TokenCount);
