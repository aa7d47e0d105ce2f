using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// CLIP's tokenizer on Microsoft.ML.Tokenizers: byte-level BPE with the <c>&lt;/w&gt;</c> end-of-word suffix,
/// CLIP's pre-tokenisation pattern and its text clean-up. Sequences are always <see cref="SequenceLength"/> ids:
/// <c>&lt;|startoftext|&gt;</c>, at most <see cref="MaxContentTokens"/> content tokens, <c>&lt;|endoftext|&gt;</c>,
/// then the model's padding token.
/// </summary>
public sealed partial class ClipTokenizer
{
    public const int SequenceLength = 77;
    public const int MaxContentTokens = SequenceLength - 2;
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    private readonly BpeTokenizer _bpe;

    private ClipTokenizer(BpeTokenizer bpe, int bosId, int eosId, int padId, int? commaId)
    {
        _bpe = bpe;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        CommaId = commaId;
    }

    public int BosId { get; }

    public int EosId { get; }

    /// <summary>The padding id: <c>&lt;|endoftext|&gt;</c> for SD 1.x tokenizers, <c>!</c> (0) for SD 2.x.</summary>
    public int PadId { get; }

    /// <summary>The id of <c>,&lt;/w&gt;</c>, where AUTOMATIC1111's chunking prefers to cut; null when the vocabulary has none.</summary>
    public int? CommaId { get; }

    /// <summary>
    /// Loads <c>vocab.json</c> and <c>merges.txt</c> from a model's <c>tokenizer/</c> folder, and the padding token
    /// from <c>special_tokens_map.json</c> or <c>tokenizer_config.json</c> when present.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is missing or not a CLIP tokenizer file.</exception>
    public static ClipTokenizer Load(string tokenizerDirectory)
    {
        var vocabPath = Path.Combine(tokenizerDirectory, "vocab.json");
        var mergesPath = Path.Combine(tokenizerDirectory, "merges.txt");
        foreach (var required in new[] { vocabPath, mergesPath })
        {
            if (!File.Exists(required))
            {
                throw new InvalidDataException($"{required}: file not found; a CLIP tokenizer needs vocab.json and merges.txt.");
            }
        }

        Dictionary<string, int> vocabulary;
        try
        {
            using var stream = File.OpenRead(vocabPath);
            vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new InvalidDataException($"{vocabPath}: empty vocabulary.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{vocabPath}: not a JSON object of token ids ({e.Message}).", e);
        }

        var merges = new List<string>();
        foreach (var line in File.ReadLines(mergesPath))
        {
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal))
            {
                continue;
            }

            if (line.Split(' ').Length != 2)
            {
                throw new InvalidDataException($"{mergesPath}: line '{line}' is not a merge of two symbols.");
            }

            merges.Add(line);
        }

        if (!vocabulary.TryGetValue(StartOfText, out var bos) || !vocabulary.TryGetValue(EndOfText, out var eos))
        {
            throw new InvalidDataException($"{vocabPath}: {StartOfText} or {EndOfText} is missing; not a CLIP vocabulary.");
        }

        var padToken = ReadPadToken(tokenizerDirectory) ?? EndOfText;
        if (!vocabulary.TryGetValue(padToken, out var pad))
        {
            throw new InvalidDataException($"{tokenizerDirectory}: the padding token '{padToken}' is not in vocab.json.");
        }

        var specialTokens = new Dictionary<string, int> { [StartOfText] = bos, [EndOfText] = eos };
        var bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = merges,
            SpecialTokens = specialTokens,
            Normalizer = new ClipNormalizer(),
            PreTokenizer = new RegexPreTokenizer(ClipPattern(), specialTokens),
            EndOfWordSuffix = "</w>",
            ByteLevel = true,
        });
        int? comma = vocabulary.TryGetValue(",</w>", out var commaId) ? commaId : null;
        return new ClipTokenizer(bpe, bos, eos, pad, comma);
    }

    /// <summary>The content token ids of <paramref name="prompt"/>, without start/end tokens or truncation.</summary>
    public IReadOnlyList<int> EncodeContent(string prompt) => _bpe.EncodeToIds(prompt);

    /// <summary>
    /// The prompt as the engine encodes it: AUTOMATIC1111's attention syntax read (<see cref="PromptAttention"/>),
    /// then cut into chunks of 75 tokens as A1111 cuts them, each with its weights.
    /// </summary>
    /// <exception cref="InvalidPromptException">An attention weight is not a finite number.</exception>
    public ChunkedPrompt Chunk(string prompt) =>
        PromptChunker.Chunk(prompt, EncodeContent, BosId, EosId, PadId, CommaId);

    /// <summary>
    /// Tokenizes the prompt's text as written (no attention syntax) into one sequence of the fixed length, as a plain
    /// CLIP pipeline would: what is beyond <see cref="MaxContentTokens"/> is dropped and reported.
    /// </summary>
    public TokenizedPrompt Tokenize(string prompt)
    {
        var tokens = _bpe.EncodeToTokens(prompt, out _);
        var kept = Math.Min(tokens.Count, MaxContentTokens);
        var ids = new int[SequenceLength];
        ids[0] = BosId;
        var texts = new string[kept];
        for (var i = 0; i < kept; i++)
        {
            ids[i + 1] = tokens[i].Id;
            texts[i] = tokens[i].Value;
        }

        ids[kept + 1] = EosId;
        for (var i = kept + 2; i < SequenceLength; i++)
        {
            ids[i] = PadId;
        }

        return new TokenizedPrompt(ids, texts, tokens.Count, tokens.Count > MaxContentTokens);
    }

    private static string? ReadPadToken(string directory)
    {
        foreach (var name in new[] { "special_tokens_map.json", "tokenizer_config.json" })
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(path));
                if (document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("pad_token", out var pad))
                {
                    if (pad.ValueKind == JsonValueKind.String)
                    {
                        return pad.GetString();
                    }

                    if (pad.ValueKind == JsonValueKind.Object && pad.TryGetProperty("content", out var content))
                    {
                        return content.GetString();
                    }
                }
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
            }
        }

        return null;
    }

    // CLIP's pattern (simple_tokenizer.py), case-insensitive: special tokens, contractions, letter runs,
    // single digits, runs of anything else but whitespace.
    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ClipPattern();
}
