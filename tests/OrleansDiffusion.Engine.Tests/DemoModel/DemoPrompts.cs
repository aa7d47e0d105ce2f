namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>CLIP token ids as the SD 1.x tokenizer pads them: BOS, the prompt, EOS up to 77.</summary>
internal static class DemoPrompts
{
    public const int Length = 77;

    /// <summary>The empty prompt, what classifier-free guidance runs as the unconditional half.</summary>
    public static double[] Empty => Ids();

    /// <summary>"a cat".</summary>
    public static double[] ACat => Ids(320, 2368);

    /// <summary>"a lighthouse at dusk" (ids chosen from the vocabulary; the exact words do not matter).</summary>
    public static double[] ALighthouseAtDusk => Ids(320, 13111, 536, 12757);

    /// <summary>The rows concatenated into one [rows, 77] batch.</summary>
    public static double[] Batch(params double[][] rows) => [.. rows.SelectMany(r => r)];

    private static double[] Ids(params int[] tokens)
    {
        var ids = Enumerable.Repeat(49407.0, Length).ToArray();
        ids[0] = 49406;
        for (var i = 0; i < tokens.Length; i++)
        {
            ids[i + 1] = tokens[i];
        }

        return ids;
    }
}
