using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Tests.Tokenization;

/// <summary>
/// The runs and weights AUTOMATIC1111's <c>parse_prompt_attention</c> returns, to the last bit: the examples of its
/// docstring, then its rules one by one (each expectation worked out from A1111's grammar and Python's float arithmetic).
/// </summary>
public sealed class PromptAttentionTests
{
    public static TheoryData<string, WeightedText[]> A1111Docstring() => new()
    {
        { "normal text", [new("normal text", 1.0)] },
        { "an (important) word", [new("an ", 1.0), new("important", 1.1), new(" word", 1.0)] },
        { "(unbalanced", [new("unbalanced", 1.1)] },
        { @"\(literal\]", [new("(literal]", 1.0)] },
        { "(unnecessary)(parens)", [new("unnecessaryparens", 1.1)] },
        {
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                new("a ", 1.0),
                new("house", 1.5730000000000004),
                new(" ", 1.1),
                new("on", 1.0),
                new(" a ", 1.1),
                new("hill", 0.55),
                new(", sun, ", 1.1),
                new("sky", 1.4641000000000006),
                new(".", 1.1),
            ]
        },
    };

    public static TheoryData<string, WeightedText[]> A1111Rules() => new()
    {
        // Square brackets divide by 1.1; nesting multiplies in A1111's order.
        { "[word]", [new("word", 0.9090909090909091)] },
        { "((a))", [new("a", 1.2100000000000002)] },
        { "((a)", [new("a", 1.2100000000000002)] },
        { "(a [b] c)", [new("a ", 1.1), new("b", 1.0), new(" c", 1.1)] },
        { "([a])", [new("a", 1.0)] },

        // Explicit weights: any sign, a leading or trailing point, spaces around, digits of any script.
        { "(a:1.3)", [new("a", 1.3)] },
        { "(a: 1.5 )", [new("a", 1.5)] },
        { "(a:+.5) b", [new("a", 0.5), new(" b", 1.0)] },
        { "(a:-1)", [new("a", -1.0)] },
        { "(a:2.)", [new("a", 2.0)] },
        { "(a:\u0661.\u0665)", [new("a", 1.5)] },

        // Equal neighbours merge, whatever syntax gave them their weight.
        { "(a)(b:1.1)", [new("ab", 1.1)] },
        { "a (b:1) c", [new("a b c", 1.0)] },

        // Closing brackets with nothing open are text; so is a colon not followed by a number and ")".
        { "a) b] c", [new("a) b] c", 1.0)] },
        { "a: b", [new("a: b", 1.0)] },
        { "(a:1e3)", [new("a:1e3", 1.1)] },
        { "[a:1.5]", [new("a:1.5", 0.9090909090909091)] },
        { "(a:1.5", [new("a:1.5", 1.1)] },
        { "x :2) y", [new("x :2) y", 1.0)] },

        // Escapes: the four brackets and the backslash itself; any other backslash is dropped.
        { @"\(a\) \[b\]", [new("(a) [b]", 1.0)] },
        { @"a\\b", [new(@"a\b", 1.0)] },
        { @"a\b", [new("ab", 1.0)] },
        { @"(a\)", [new("a)", 1.1)] },

        // BREAK: the upper-case word with the whitespace around it; inside brackets its -1 is multiplied and it is text.
        { "a BREAK b", [new("a", 1.0), new("BREAK", -1), new("b", 1.0)] },
        { "BREAK", [new("", 1.0), new("BREAK", -1), new("", 1.0)] },
        { "a BREAK", [new("a", 1.0), new("BREAK", -1), new("", 1.0)] },
        { "a\nBREAK\n\nb", [new("a", 1.0), new("BREAK", -1), new("b", 1.0)] },
        { "aBREAK b break c", [new("aBREAK b break c", 1.0)] },
        { "(a BREAK b)", [new("a", 1.1), new("BREAK", -1.1), new("b", 1.1)] },
        { "(BREAK:-1)", [new("", -1.0), new("BREAK", 1.0), new("", -1.0)] },

        // Nothing to read is one empty run.
        { "", [new("", 1.0)] },
        { "()", [new("", 1.0)] },
    };

    [Theory]
    [MemberData(nameof(A1111Docstring))]
    [MemberData(nameof(A1111Rules))]
    public void Parses_as_AUTOMATIC1111_parse_prompt_attention(string prompt, WeightedText[] expected)
    {
        var parsed = PromptAttention.Parse(prompt);

        Assert.Equal(expected.Select(e => e.Text), parsed.Select(p => p.Text));
        for (var i = 0; i < expected.Length; i++)
        {
            // Exact: the weights are A1111's doubles, multiplied in its order.
            Assert.True(expected[i].Weight == parsed[i].Weight, $"run {i} '{parsed[i].Text}': expected {expected[i].Weight:R}, got {parsed[i].Weight:R}");
        }
    }

    [Theory]
    [InlineData("a BREAK b", 1)]
    [InlineData("(a BREAK b)", 0)]
    [InlineData("(BREAK:-1)", 0)]
    public void Only_a_BREAK_of_weight_minus_one_ends_a_chunk(string prompt, int breaks)
    {
        Assert.Equal(breaks, PromptAttention.Parse(prompt).Count(r => r.IsBreak));
    }

    [Theory]
    [InlineData("(a:1.2.3)", "1.2.3")]
    [InlineData("(a:.)", "'.'")]
    [InlineData("(a:1..2)", "1..2")]
    public void A_weight_that_is_not_a_number_is_refused_with_its_text(string prompt, string named)
    {
        var error = Assert.Throws<InvalidPromptException>(() => PromptAttention.Parse(prompt));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<ArgumentException>(error);
        Assert.False(PromptAttention.TryParse(prompt, out _, out var message));
        Assert.Equal(error.Message, message);
    }

    [Fact]
    public void A_weight_too_large_to_be_finite_is_refused()
    {
        var prompt = "(a:" + new string('9', 400) + ")";

        Assert.Throws<InvalidPromptException>(() => PromptAttention.Parse(prompt));
    }

    [Fact]
    public void A_weight_that_overflows_by_nesting_is_refused()
    {
        var prompt = new string('(', 8) + "a:" + new string('9', 308) + new string(')', 8);

        var error = Assert.Throws<InvalidPromptException>(() => PromptAttention.Parse(prompt));
        Assert.Contains("'a'", error.Message, StringComparison.Ordinal);
    }
}
