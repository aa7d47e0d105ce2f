namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>A prompt as the text encoder sees it.</summary>
/// <param name="Ids">Exactly <see cref="ClipTokenizer.SequenceLength"/> ids: start, content, end, padding.</param>
/// <param name="Tokens">The kept content tokens as BPE strings (byte-level symbols, <c>&lt;/w&gt;</c> ends a word).</param>
/// <param name="ContentTokenCount">How many content tokens the whole prompt has, before truncation.</param>
/// <param name="Truncated">Whether content tokens beyond <see cref="ClipTokenizer.MaxContentTokens"/> were dropped.</param>
public sealed record TokenizedPrompt(int[] Ids, IReadOnlyList<string> Tokens, int ContentTokenCount, bool Truncated);
