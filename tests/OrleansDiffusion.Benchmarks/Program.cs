using BenchmarkDotNet.Running;
using OrleansDiffusion.Benchmarks;

// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- stages [runs]   : stage breakdown of a 512x512, 20-step job
// dotnet run -c Release --project tests/OrleansDiffusion.Benchmarks -- --filter '*'    : BenchmarkDotNet (steps and generation)
if (args.Length > 0 && args[0] == "stages")
{
    return StageBreakdown.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5, Console.Out);
}

BenchmarkSwitcher.FromAssembly(typeof(StepBenchmarks).Assembly).Run(args);
return 0;
