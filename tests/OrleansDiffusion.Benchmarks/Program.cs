using System.Globalization;
using BenchmarkDotNet.Running;
using OrleansDiffusion.Benchmarks;
using OrleansDiffusion.Benchmarks.Cluster;

// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- stages [runs]   : stage breakdown of a 512x512, 20-step job
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- cluster [jobs]  : grain path overhead, cache hits, dedup, batching
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- api [seconds] [--storage azure|memory] [--no-full-gc]
//                                                                                      : API end to end over the engine, cache hits, memory under load
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- burst [jobs] [--clients N]
//                                                                                      : a burst of distinct jobs on Azure storage: storage requests and bytes per job, accept latency, drain rate
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- compare [--model DIR | --flavor fp32|optimum-fp16|olive-fp16] [--runs N] [--images N]
//     [--warmup N] [--steps N] [--size N] [--threads N] [--provider cpu|cuda] [--png on|off|both] [--first engine|bare] [--spin on|off]
//                                                                                      : the engine against a bare ONNX Runtime loop, interleaved child processes
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- fullsize load|step|two|unload --model DIR [--model DIR2]
//                                                                                      : full-size models: load time, RSS, a 512x512 step engine vs bare, unload
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- --filter '*'    : BenchmarkDotNet (steps and generation)
if (args.Length > 0 && args[0] == "compare")
{
    return OrleansDiffusion.Benchmarks.Compare.CompareBenchmark.Run(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "compare-child")
{
    return OrleansDiffusion.Benchmarks.Compare.CompareChild.Run(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "fullsize")
{
    return OrleansDiffusion.Benchmarks.FullSize.FullSizeBenchmark.Run(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "fullsize-child")
{
    return OrleansDiffusion.Benchmarks.FullSize.FullSizeChild.Run(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "stages")
{
    return StageBreakdown.Run(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5, Console.Out);
}

if (args.Length > 0 && args[0] == "cluster")
{
    return await ClusterBenchmark.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30, Console.Out);
}

if (args.Length > 0 && args[0] == "api")
{
    return await OrleansDiffusion.Benchmarks.Api.ApiLoadBenchmark.RunAsync(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "burst")
{
    return await OrleansDiffusion.Benchmarks.Burst.BurstBenchmark.RunAsync(args[1..], Console.Out);
}

BenchmarkSwitcher.FromAssembly(typeof(StepBenchmarks).Assembly).Run(args);
return 0;
