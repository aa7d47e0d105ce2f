using System.Globalization;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>
/// <c>--name value</c> options of one command, checked against the options the command knows.
/// Every accessor throws <see cref="CommandLineException"/> with a message naming the option.
/// </summary>
public sealed class ParsedArguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public ParsedArguments(string command, IReadOnlyList<string> args, IReadOnlyCollection<string> known)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new CommandLineException($"unexpected argument '{arg}' for '{command}'.");
            }

            var name = arg[2..];
            string value;
            var equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else
            {
                if (i + 1 >= args.Count)
                {
                    throw new CommandLineException($"--{name} needs a value.");
                }

                value = args[++i];
            }

            if (!known.Contains(name))
            {
                throw new CommandLineException($"unknown option --{name} for '{command}' (known: {string.Join(", ", known.Select(k => "--" + k))}).");
            }

            if (!_values.TryAdd(name, value))
            {
                throw new CommandLineException($"--{name} is given twice.");
            }
        }
    }

    public string? Text(string name) => _values.GetValueOrDefault(name);

    public string RequiredText(string name) =>
        Text(name) is { Length: > 0 } value ? value : throw new CommandLineException($"--{name} is required.");

    public int Int(string name, int fallback) =>
        Text(name) is { } text
            ? int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw new CommandLineException($"--{name} must be an integer, not '{text}'.")
            : fallback;

    public long? Long(string name) =>
        Text(name) is { } text
            ? long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw new CommandLineException($"--{name} must be an integer, not '{text}'.")
            : null;

    public float Float(string name, float fallback) =>
        Text(name) is { } text
            ? float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && float.IsFinite(value) ? value : throw new CommandLineException($"--{name} must be a number, not '{text}'.")
            : fallback;
}
