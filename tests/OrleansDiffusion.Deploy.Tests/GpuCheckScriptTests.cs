using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// <c>deploy/gpu/check.sh</c>: its CPU path on the tiny demo model (what CI can run: the same compare, parsing and report
/// as on a GPU host), and its refusal without a GPU.
/// </summary>
public sealed partial class GpuCheckScriptTests : IDisposable
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "od-gpu-check-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_out, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task The_CPU_path_on_the_small_model_prints_the_figures_and_exits_0()
    {
        // The benchmarks this test project builds (NO_BUILD=1, this configuration); fewer steps keep it short.
        var (exit, output) = await RunAsync(["--cpu", "--small", "--out", _out], new() { ["STEPS"] = "20", ["IMAGES"] = "1", ["WARMUP"] = "1" }, TimeSpan.FromMinutes(3));

        Assert.True(exit == 0, output);
        var engine = Figures().Match(output.Split('\n').Single(l => l.StartsWith("gpu-check: engine ", StringComparison.Ordinal)));
        var bare = Figures().Match(output.Split('\n').Single(l => l.StartsWith("gpu-check: bare ", StringComparison.Ordinal)));
        Assert.True(engine.Success && bare.Success, output);
        foreach (var match in new[] { engine, bare })
        {
            var perStep = double.Parse(match.Groups["step"].Value, CultureInfo.InvariantCulture);
            var perImage = double.Parse(match.Groups["image"].Value, CultureInfo.InvariantCulture);
            Assert.True(perStep > 0 && perImage > perStep * 20, $"an image ({perImage} s) costs more than its 20 steps ({perStep} s each):\n{output}");
        }

        Assert.Matches(@"gpu-check: engine/bare  x\d+\.\d{3} per step  x\d+\.\d{3} per image", output);
        var load = Regex.Match(output, @"gpu-check: load: engine (?<engine>\d+) ms, bare (?<bare>\d+) ms; process RSS: engine (?<rss>\d+) MiB");
        Assert.True(load.Success && int.Parse(load.Groups["engine"].Value, CultureInfo.InvariantCulture) > 0 && int.Parse(load.Groups["rss"].Value, CultureInfo.InvariantCulture) > 0, $"load time and RSS read from compare's table:\n{output}");
        Assert.Contains("gpu-check: result: tiny demo model, optimum fp16, cpu, 512x512, 20 Euler steps", output, StringComparison.Ordinal);
        Assert.Contains("gpu-check: GPU memory: not measured (--cpu)", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_out, "compare-cpu-small.log")));
    }

    [Fact]
    public async Task Without_a_usable_GPU_it_stops_with_a_clear_message_and_exit_2()
    {
        // nvidia-smi as it answers on a host whose driver sees no GPU.
        var bin = Path.Combine(_out, "bin");
        Directory.CreateDirectory(bin);
        var smi = Path.Combine(bin, "nvidia-smi");
        await File.WriteAllTextAsync(smi, "#!/bin/sh\necho 'No devices were found'\nexit 6\n", TestContext.Current.CancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(smi, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var (exit, output) = await RunAsync(["--small", "--out", _out], new() { ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH") }, TimeSpan.FromSeconds(30));

        Assert.Equal(2, exit);
        Assert.Contains("nvidia-smi found no usable GPU: No devices were found (or run with --cpu)", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_out, "build.log")), "nothing is built without a GPU");
    }

    [Fact]
    public async Task An_unknown_option_is_refused_with_the_usage()
    {
        var (exit, output) = await RunAsync(["--gpu", "7"], [], TimeSpan.FromSeconds(30));

        Assert.Equal(2, exit);
        Assert.Contains("unknown option '--gpu'", output, StringComparison.Ordinal);
        Assert.Contains("deploy/gpu/check.sh [--cpu] [--small] [--out DIR]", output, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> RunAsync(string[] arguments, Dictionary<string, string> environment, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = Repo.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Repo.PathOf("deploy/gpu/check.sh"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["NO_BUILD"] = "1";
        info.Environment["CONFIGURATION"] = typeof(GpuCheckScriptTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"check.sh did not finish within {timeout}:\n{await stdout}\n{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"(?<step>\d+\.\d+) s/step +(?<image>\d+\.\d+) s/image")]
    private static partial Regex Figures();
}
