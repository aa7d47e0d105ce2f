using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace OrleansDiffusion.DemoModel.Clip;

/// <summary>
/// Derives the Hugging Face tokenizer files (<c>vocab.json</c>, <c>merges.txt</c>) from CLIP's original BPE data
/// (<c>bpe_simple_vocab_16e6.txt.gz</c>, MIT licence in <c>Clip/LICENSE.openai-CLIP</c>), the same way CLIP's
/// <c>SimpleTokenizer</c> builds its vocabulary: 256 byte symbols, the same with <c>&lt;/w&gt;</c>, one token per
/// merge, then <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>: 49,408 entries.
/// </summary>
public static class ClipVocabularyFiles
{
    public const int MergeCount = 49152 - 256 - 2;
    public const int VocabularySize = 49408;

    private static readonly Lazy<(string Vocab, string Merges)> Files = new(Build);

    /// <summary>The content of <c>vocab.json</c>.</summary>
    public static string VocabJson => Files.Value.Vocab;

    /// <summary>The content of <c>merges.txt</c>, with its <c>#version: 0.2</c> header line.</summary>
    public static string MergesText => Files.Value.Merges;

    /// <summary>Writes <c>vocab.json</c> and <c>merges.txt</c> into <paramref name="directory"/>.</summary>
    public static void WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "vocab.json"), VocabJson, new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(directory, "merges.txt"), MergesText, new UTF8Encoding(false));
    }

    /// <summary>CLIP's reversible byte-to-unicode table (printable bytes map to themselves).</summary>
    public static char[] ByteToUnicode()
    {
        var table = new char[256];
        var assigned = new bool[256];
        foreach (var (from, to) in new[] { ('!', '~'), ('¡', '¬'), ('®', 'ÿ') })
        {
            for (int b = from; b <= to; b++)
            {
                table[b] = (char)b;
                assigned[b] = true;
            }
        }

        var next = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!assigned[b])
            {
                table[b] = (char)(256 + next++);
            }
        }

        return table;
    }

    private static (string Vocab, string Merges) Build()
    {
        string[] lines;
        using (var stream = typeof(ClipVocabularyFiles).Assembly.GetManifestResourceStream("clip-bpe.txt.gz")
            ?? throw new InvalidOperationException("The embedded CLIP BPE data is missing."))
        using (var gzip = new GZipStream(stream, CompressionMode.Decompress))
        using (var reader = new StreamReader(gzip, Encoding.UTF8))
        {
            lines = reader.ReadToEnd().Split('\n');
        }

        var merges = lines.AsSpan(1, MergeCount);

        // The order of the byte symbols follows CLIP's bytes_to_unicode: the printable ranges first, then the rest.
        var byteTable = ByteToUnicode();
        var order = Enumerable.Range(0, 256)
            .OrderBy(b => byteTable[b] >= 256 ? 1 : 0)
            .ThenBy(b => byteTable[b] >= 256 ? byteTable[b] : b)
            .Select(b => byteTable[b].ToString())
            .ToList();

        var vocabulary = new List<string>(VocabularySize);
        vocabulary.AddRange(order);
        vocabulary.AddRange(order.Select(s => s + "</w>"));
        foreach (var merge in merges)
        {
            vocabulary.Add(merge.Replace(" ", string.Empty, StringComparison.Ordinal));
        }

        vocabulary.Add("<|startoftext|>");
        vocabulary.Add("<|endoftext|>");

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            for (var id = 0; id < vocabulary.Count; id++)
            {
                writer.WriteNumber(vocabulary[id], id);
            }

            writer.WriteEndObject();
        }

        var mergesText = new StringBuilder("#version: 0.2\n");
        foreach (var merge in merges)
        {
            mergesText.Append(merge).Append('\n');
        }

        return (Encoding.UTF8.GetString(buffer.ToArray()), mergesText.ToString());
    }
}
