using System.Globalization;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>This process's resident memory from <c>/proc/self/status</c> (Linux): now (VmRSS) and at its peak (VmHWM).</summary>
public readonly record struct ProcessMemory(double RssMiB, double PeakMiB)
{
    public static ProcessMemory Read()
    {
        if (!OperatingSystem.IsLinux())
        {
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return new ProcessMemory(process.WorkingSet64 / 1048576.0, process.PeakWorkingSet64 / 1048576.0);
        }

        double rss = 0, peak = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) / 1024.0;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line) / 1024.0;
            }
        }

        return new ProcessMemory(rss, peak);
    }

    private static long Kilobytes(string line) =>
        long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
}
