using System.Globalization;
using System.Text.Json;
using OrleansDiffusion.Benchmarks.Compare;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Benchmarks.FullSize;

/// <summary>
/// Measurements on the full-size generated models (<c>demo-model --architecture sd15|sdxl</c>), each in its own child
/// process so that resident memory starts clean:
/// <list type="bullet">
/// <item><c>load --model DIR</c>: load time and RSS after the silo's <c>ModelHost</c> loads the model.</item>
/// <item><c>step --model DIR</c>: one 512x512 UNet step (guided, batch 2), engine against a bare ONNX Runtime loop (<c>compare</c>'s machinery).</item>
/// <item><c>two --model A --model B</c>: RSS with two models loaded at once.</item>
/// <item><c>unload --model DIR</c>: RSS loaded, then after the model is released, with and without the native heap trim.</item>
/// <item><c>cold --model DIR</c>: a silo (the API's co-hosted one) from process start to its first 1-step 512x512 image.</item>
/// </list>
/// </summary>
public static class FullSizeBenchmark
{
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        if (args.Count == 0 || args[0] is not ("write" or "load" or "step" or "two" or "unload" or "cold"))
        {
            output.WriteLine("usage: fullsize load|step|two|unload|cold --model DIR [--model DIR2] [--threads N] [--runs N] [--steps N]");
            output.WriteLine("       fullsize write --architecture sd15|sdxl [--flavor F] --out DIR   (as silo -- demo-model, timed)");
            return 2;
        }

        if (args[0] == "write")
        {
            return Write(args.Skip(1).ToList(), output);
        }

        var mode = args[0];
        var rest = args.Skip(1).ToList();
        if (mode == "step")
        {
            // compare with the step's defaults: 512x512, 1 image of 2 steps after a warm-up image (a session's first run is out of the step), no PNG.
            var options = Compare.CompareOptions.Parse(["--runs", "1", "--images", "1", "--warmup", "1", "--steps", "2", "--png", "off", .. rest]);
            var results = CompareBenchmark.Measure(options, options.Model ?? throw new ArgumentException("fullsize step needs --model."), output);
            var engine = CompareBenchmark.Median(results.Where(r => r.Contestant == "engine").Select(r => r.MsPerStep));
            var bare = CompareBenchmark.Median(results.Where(r => r.Contestant == "bare").Select(r => r.MsPerStep));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fullsize step: {options.Model}, {options.Size}x{options.Size}, guided UNet step engine {engine / 1000:F2} s, bare {bare / 1000:F2} s, engine/bare x{engine / bare:F3} (median of {options.Runs} run(s), {options.Steps} steps each, {options.Threads} thread(s))"));
            return 0;
        }

        var models = rest.Where((a, i) => i > 0 && rest[i - 1] == "--model").ToList();
        if (mode == "cold")
        {
            var threads = rest.IndexOf("--threads") is var t and >= 0 ? int.Parse(rest[t + 1], CultureInfo.InvariantCulture) : 1;
            return models.Count == 1 ? ColdStart.RunAsync(models[0], threads, output).GetAwaiter().GetResult() : 2;
        }

        if (models.Count == 0 || (mode == "two") != (models.Count == 2))
        {
            output.WriteLine("fullsize: load and unload take one --model, two takes two.");
            return 2;
        }

        var runs = new List<(string Label, Dictionary<string, double> Figures)>();
        if (mode == "unload")
        {
            foreach (var trim in new[] { "off", "on" })
            {
                runs.Add(($"trim {trim}", Child([mode, .. rest, "--trim", trim], output)));
            }
        }
        else
        {
            runs.Add((mode, Child([mode, .. rest], output)));
        }

        foreach (var (label, figures) in runs)
        {
            output.WriteLine($"fullsize {label}: {string.Join(", ", models)}");
            foreach (var (key, value) in figures)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {key,-32} {value,10:F1}"));
            }
        }

        return 0;
    }

    private static int Write(List<string> args, TextWriter output)
    {
        string Value(string name) => args.IndexOf(name) is var i and >= 0 && i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"fullsize write needs {name}.");
        var architecture = Value("--architecture") switch
        {
            "sd15" => DemoModelArchitecture.StableDiffusion15,
            "sdxl" => DemoModelArchitecture.StableDiffusionXL,
            var other => throw new ArgumentException($"--architecture is sd15 or sdxl, not '{other}'."),
        };
        var flavor = args.Contains("--flavor") ? DemoModelWriter.ParseFlavor(Value("--flavor")) : DemoModelFlavor.Optimum;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        DemoModelWriter.Write(Value("--out"), new DemoModelOptions { Architecture = architecture, Flavor = flavor });
        var bytes = Directory.EnumerateFiles(Value("--out"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fullsize write: {Value("--out")} in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s, {bytes / 1e9:F2} GB, peak RSS {ProcessMemory.Read().PeakMiB:F0} MiB"));
        return 0;
    }

    private static Dictionary<string, double> Child(string[] arguments, TextWriter output) =>
        JsonSerializer.Deserialize<Dictionary<string, double>>(ChildProcess.Run(["fullsize-child", .. arguments], FullSizeChild.Marker, output))!;
}
