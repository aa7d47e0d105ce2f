namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// One run of prompt text and the attention weight AUTOMATIC1111's <c>parse_prompt_attention</c> gives it. A
/// <c>BREAK</c> is the text <c>BREAK</c> with weight -1, as A1111 marks it: a <c>BREAK</c> inside brackets has its -1
/// multiplied and is then ordinary text, as in A1111.
/// </summary>
public readonly record struct WeightedText(string Text, double Weight)
{
    /// <summary>Whether this run ends the current 75-token chunk.</summary>
    public bool IsBreak => Weight == -1 && Text == PromptAttention.Break;
}
