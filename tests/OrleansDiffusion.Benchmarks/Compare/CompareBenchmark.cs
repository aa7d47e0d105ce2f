using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>
/// The engine (<c>DiffusionPipeline</c>) against a bare ONNX Runtime loop (<see cref="BareOnnxLoop"/>) on the same model
/// files: each contestant in its own child process per run and PNG mode, alternating which goes first, and the medians
/// over the runs with the ratio engine / bare.
/// </summary>
public static class CompareBenchmark
{
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        CompareOptions options;
        try
        {
            options = CompareOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            output.WriteLine($"compare: {e.Message}");
            output.WriteLine("usage: compare [--model DIR | --flavor fp32|optimum-fp16|olive-fp16|...] [--runs N] [--images N] [--warmup N] [--steps N] [--size N] [--threads N] [--provider cpu|cuda] [--png on|off|both] [--first engine|bare] [--spin on|off]");
            return 2;
        }

        if (options.Cuda && CudaProblem() is { } problem)
        {
            output.WriteLine($"compare: CUDA is unavailable in this build or on this machine ({problem}). Build with -p:OnnxRuntimeGpu=true on a host with an NVIDIA GPU and CUDA libraries.");
            return 3;
        }

        var folder = options.Model;
        string? temporary = null;
        if (folder is null)
        {
            temporary = Path.Combine(Path.GetTempPath(), "od-compare-" + Guid.NewGuid().ToString("N")[..8]);
            DemoModelWriter.Write(temporary, new DemoModelOptions { Flavor = options.DemoFlavor });
            folder = temporary;
        }

        try
        {
            var results = Measure(options, folder, output);
            Report(options, folder, temporary is null ? null : DemoModelWriter.FlavorName(options.DemoFlavor), results, output);
            return 0;
        }
        finally
        {
            if (temporary is not null)
            {
                Directory.Delete(temporary, recursive: true);
            }
        }
    }

    /// <summary>Every (run, PNG mode, contestant) in its own child process, engine and bare alternating in order.</summary>
    public static List<ChildResult> Measure(CompareOptions options, string folder, TextWriter output)
    {
        var results = new List<ChildResult>();
        for (var run = 0; run < options.Runs; run++)
        {
            foreach (var png in options.PngModes)
            {
                string[] order = (run % 2 == 0) == (options.First == "engine") ? ["engine", "bare"] : ["bare", "engine"];
                foreach (var contestant in order)
                {
                    var json = ChildProcess.Run(options.ChildArguments(contestant, png, folder), ChildResult.Marker, output);
                    var result = JsonSerializer.Deserialize<ChildResult>(json)!;
                    results.Add(result);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  run {run + 1}/{options.Runs} png {(png ? "on " : "off")} {contestant,-6}: {result.MsPerImage,9:F1} ms/image {result.MsPerStep,9:F2} ms/step (text {result.TextMs:F1}, denoise {result.DenoiseMs:F1}, decode {result.DecodeMs:F1}) {result.AllocatedMiBPerImage,6:F2} MiB/image  gen0/1/2 {result.Gen0PerImage:F1}/{result.Gen1PerImage:F1}/{result.Gen2PerImage:F1}"));
                }
            }
        }

        return results;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static void Report(CompareOptions options, string folder, string? demoFlavor, List<ChildResult> results, TextWriter output)
    {
        var what = demoFlavor is null ? folder : $"tiny demo model, flavour {demoFlavor}";
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: {options.Size}x{options.Size}, {options.Steps} Euler steps, guidance 7.5, {options.Threads} intra-op thread(s) (spinning {options.Spin}), {options.Provider}; medians of {options.Runs} run(s) of {options.Images} image(s) after {(options.Warmup is { } w ? $"{w} warm-up image(s)" : $"a warm-up of {CompareOptions.WarmupSeconds:F0} s (median {Median(results.Select(r => (double)r.WarmupImages)):F0} images)")}"));
        output.WriteLine("| png | contestant | ms/image | ms/step | text ms | denoise ms | decode ms | MiB allocated/image | gen0/image | gen1/image | gen2/image | load ms | RSS MiB |");
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var summary = new List<string>();
        foreach (var png in options.PngModes)
        {
            var medians = new Dictionary<string, double[]>();
            foreach (var contestant in new[] { "engine", "bare" })
            {
                var mine = results.Where(r => r.Contestant == contestant && r.Png == png).ToList();
                double[] m =
                [
                    Median(mine.Select(r => r.MsPerImage)), Median(mine.Select(r => r.MsPerStep)), Median(mine.Select(r => r.AllocatedMiBPerImage)),
                    Median(mine.Select(r => r.Gen0PerImage)), Median(mine.Select(r => r.Gen1PerImage)), Median(mine.Select(r => r.Gen2PerImage)),
                    Median(mine.Select(r => r.LoadMs)), Median(mine.Select(r => r.RssMiB)),
                    Median(mine.Select(r => r.TextMs)), Median(mine.Select(r => r.DenoiseMs)), Median(mine.Select(r => r.DecodeMs)),
                ];
                medians[contestant] = m;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {(png ? "on" : "off")} | {contestant} | {m[0]:F1} | {m[1]:F2} | {m[8]:F1} | {m[9]:F1} | {m[10]:F1} | {m[2]:F2} | {m[3]:F2} | {m[4]:F2} | {m[5]:F2} | {m[6]:F0} | {m[7]:F0} |"));
            }

            var (e, b) = (medians["engine"], medians["bare"]);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {(png ? "on" : "off")} | engine/bare | x{e[0] / b[0]:F3} | x{e[1] / b[1]:F3} | x{e[8] / b[8]:F3} | x{e[9] / b[9]:F3} | x{e[10] / b[10]:F3} | x{e[2] / Math.Max(b[2], 1e-6):F2} | | | | | |"));
            summary.Add(string.Create(CultureInfo.InvariantCulture,
                $"png {(png ? "on" : "off")}: ms/image x{e[0] / b[0]:F3}, ms/step x{e[1] / b[1]:F3}, MiB/image {e[2]:F2} vs {b[2]:F2}, gen2/image {e[5]:F2} vs {b[5]:F2}"));
        }

        if (options.PngModes.Contains(false))
        {
            output.WriteLine("(png off: both stop at the decoded pixels in host memory, the engine's as 8-bit RGB (GenerateBatchDecoded), the bare loop's as float32.)");
        }

        output.WriteLine($"compare: {what}, {options.Size}x{options.Size}, {options.Steps} steps, {options.Threads} thread(s), engine/bare {string.Join("; ", summary)}");
    }

    /// <summary>Null when the CUDA provider can be appended to a session's options; else why not.</summary>
    private static string? CudaProblem()
    {
        try
        {
            using var probe = new SessionOptions();
            probe.AppendExecutionProvider_CUDA(0);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }
}
