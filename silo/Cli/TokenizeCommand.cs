using System.Text.Json;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Silo.Cli;

/// <summary><c>tokenize --model DIR --input FILE</c>: FILE holds one JSON string per line; prints the 77 ids of each.</summary>
internal static class TokenizeCommand
{
    public const string Name = "tokenize";

    public static readonly string[] Options = ["model", "input"];

    public static int Run(ParsedArguments args, TextWriter output)
    {
        var modelDirectory = args.RequiredText("model");
        var input = args.RequiredText("input");
        if (!File.Exists(input))
        {
            throw new CommandLineException($"--input file '{input}' not found.");
        }

        var tokenizer = ClipTokenizer.Load(ModelFolder.Open(modelDirectory).TokenizerDirectory);
        var lineNumber = 0;
        foreach (var line in File.ReadLines(input))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            string prompt;
            try
            {
                prompt = JsonSerializer.Deserialize<string>(line)
                    ?? throw new CommandLineException($"{input}:{lineNumber}: null is not a JSON string.");
            }
            catch (JsonException)
            {
                throw new CommandLineException($"{input}:{lineNumber}: not a JSON string: {line}");
            }

            output.WriteLine(JsonSerializer.Serialize(tokenizer.Tokenize(prompt).Ids));
        }

        return 0;
    }
}
