using System.Globalization;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>The command line of <c>compare</c> (and of its child processes).</summary>
public sealed record CompareOptions
{
    public string? Model { get; init; }

    /// <summary>The demo model's flavour when no <see cref="Model"/> is given: a generator flavour name, or fp32 for optimum.</summary>
    public string Flavor { get; init; } = "fp32";

    public int Runs { get; init; } = 3;

    public int Images { get; init; } = 2;

    /// <summary>
    /// Images generated and dropped before measuring, in every child. Default (null): as many as fit in
    /// <see cref="WarmupSeconds"/>, at least one, so that the measured images run the JIT's optimised code, as a service's
    /// do after its first few jobs (tiered compilation waits for 30 calls and a quiet 100 ms before it optimises a method).
    /// </summary>
    public int? Warmup { get; init; }

    /// <summary>The warm-up time when <see cref="Warmup"/> is not given.</summary>
    public const double WarmupSeconds = 3;

    public int Steps { get; init; } = 20;

    public int Size { get; init; } = 512;

    public int Threads { get; init; } = 1;

    public string Provider { get; init; } = "cpu";

    /// <summary>on, off or both.</summary>
    public string Png { get; init; } = "both";

    /// <summary>The contestant that goes first in run 1 (then they alternate): engine or bare. Default engine.</summary>
    public string First { get; init; } = "engine";

    /// <summary>on or off: ONNX Runtime's thread spinning, in both contestants. Default on (ONNX Runtime's).</summary>
    public string Spin { get; init; } = "on";

    public bool AllowSpinning => Spin != "off";

    public bool Cuda => Provider == "cuda";

    public IEnumerable<bool> PngModes => Png switch
    {
        "on" => [true],
        "off" => [false],
        _ => [true, false],
    };

    public DemoModelFlavor DemoFlavor => Flavor.Equals("fp32", StringComparison.OrdinalIgnoreCase)
        ? DemoModelFlavor.Optimum
        : DemoModelWriter.ParseFlavor(Flavor);

    public static CompareOptions Parse(IReadOnlyList<string> args)
    {
        var options = new CompareOptions();
        for (var i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Number() => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 0
                ? n
                : throw new ArgumentException($"{args[i - 1]} needs a non-negative whole number, not '{args[i]}'.");
            options = args[i] switch
            {
                "--model" => options with { Model = Path.GetFullPath(Next()) },
                "--flavor" => options with { Flavor = Next() },
                "--runs" => options with { Runs = Number() },
                "--images" => options with { Images = Number() },
                "--warmup" => options with { Warmup = Number() },
                "--steps" => options with { Steps = Number() },
                "--size" => options with { Size = Number() },
                "--threads" => options with { Threads = Number() },
                "--provider" => options with { Provider = Next().ToLowerInvariant() },
                "--png" => options with { Png = Next().ToLowerInvariant() },
                "--first" => options with { First = Next().ToLowerInvariant() },
                "--spin" => options with { Spin = Next().ToLowerInvariant() },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'."),
            };
        }

        if (options.Provider is not ("cpu" or "cuda"))
        {
            throw new ArgumentException($"--provider is cpu or cuda, not '{options.Provider}'.");
        }

        if (options.First is not ("engine" or "bare"))
        {
            throw new ArgumentException($"--first is engine or bare, not '{options.First}'.");
        }

        if (options.Png is not ("on" or "off" or "both"))
        {
            throw new ArgumentException($"--png is on, off or both, not '{options.Png}'.");
        }

        if (options.Spin is not ("on" or "off"))
        {
            throw new ArgumentException($"--spin is on or off, not '{options.Spin}'.");
        }

        if (options.Runs < 1 || options.Images < 1 || options.Steps < 1 || options.Size < 64 || options.Size % 8 != 0)
        {
            throw new ArgumentException("--runs, --images and --steps must be at least 1, --size a multiple of 8 of at least 64.");
        }

        _ = options.DemoFlavor; // an unknown flavour fails here, with the list of known ones
        return options;
    }

    /// <summary>The arguments a child process gets for one contestant and PNG mode.</summary>
    public IEnumerable<string> ChildArguments(string contestant, bool png, string model) =>
    [
        "compare-child", "--contestant", contestant, "--model", model, "--png", png ? "on" : "off",
        "--images", Images.ToString(CultureInfo.InvariantCulture),
        .. (Warmup is { } warmup ? ["--warmup", warmup.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>()),
        "--steps", Steps.ToString(CultureInfo.InvariantCulture), "--size", Size.ToString(CultureInfo.InvariantCulture),
        "--threads", Threads.ToString(CultureInfo.InvariantCulture), "--provider", Provider, "--spin", Spin,
    ];
}
