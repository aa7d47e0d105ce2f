using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Benchmarks.Compare;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Benchmarks.FullSize;

/// <summary>
/// One full-size memory measurement in a fresh process, through the silo's own <see cref="ModelHost"/>: load time and
/// resident memory after loading one or two models, and after the model is released (its last holder lets go, as when
/// the inference worker is collected after <c>ModelUnloadAfter</c>), with or without the native heap trim.
/// </summary>
public static class FullSizeChild
{
    public const string Marker = "fullsize-result ";

    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var mode = args[0];
        var models = new List<string>();
        var threads = 1;
        var trim = true;
        for (var i = 1; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--model": models.Add(Path.GetFullPath(args[++i])); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--trim": trim = args[++i] == "on"; break;
                default: throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        var options = new DiffusionOptions
        {
            Models = [.. models.Select((path, index) => new ModelOptions { Id = "m" + index, Path = path })],
            IntraOpThreads = threads,
            TrimNativeHeapOnUnload = trim,
        };
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new DiffusionMetrics(services.GetRequiredService<IMeterFactory>());
        var figures = new Dictionary<string, double> { ["rss_start_mib"] = ProcessMemory.Read().RssMiB };
        var catalog = new ModelCatalog(options, NullLogger.Instance);
        figures["rss_catalog_mib"] = ProcessMemory.Read().RssMiB;
        using var host = new ModelHost(catalog, Options.Create(options), metrics, NullLogger<ModelHost>.Instance);
        var leases = new List<ModelLease>();
        for (var i = 0; i < models.Count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            leases.Add(host.Acquire("m" + i));
            figures[$"load_{i}_s"] = Stopwatch.GetElapsedTime(started).TotalSeconds;
            figures[$"rss_loaded_{i}_mib"] = ProcessMemory.Read().RssMiB;
        }

        figures["peak_rss_mib"] = ProcessMemory.Read().PeakMiB;
        if (mode == "unload")
        {
            foreach (var lease in leases)
            {
                lease.Dispose();
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(1000);
            figures["rss_unloaded_mib"] = ProcessMemory.Read().RssMiB;
            if (!trim)
            {
                NativeHeap.Trim();
                figures["rss_unloaded_then_trimmed_mib"] = ProcessMemory.Read().RssMiB;
            }
        }

        output.WriteLine(Marker + JsonSerializer.Serialize(figures));
        return 0;
    }
}
