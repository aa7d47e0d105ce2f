using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>Asks one process to stop the way a service manager would, so it can flush what it holds.</summary>
internal static class ProcessSignals
{
    private const int Sigterm = 15;

    /// <summary>SIGTERM on Unix; on Windows, which has no such signal for a console child, a kill.</summary>
    public static void Terminate(Process process)
    {
        if (OperatingSystem.IsWindows())
        {
            process.Kill(entireProcessTree: false);
        }
        else if (SendSignal(process.Id, Sigterm) != 0 && !process.HasExited)
        {
            process.Kill(entireProcessTree: false);
        }
    }

    // DllImport rather than LibraryImport: blittable arguments need no generated marshalling, and the project no unsafe code.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
