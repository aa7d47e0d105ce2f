using System.Runtime.InteropServices;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// The process's native heap. glibc keeps the pages of freed allocations in its arenas: after a model's sessions are
/// disposed (gigabytes of weights and activation buffers) the memory is free inside the process but still resident,
/// until <c>malloc_trim</c> hands it back to the kernel.
/// </summary>
public static partial class NativeHeap
{
    /// <summary>
    /// Returns the free pages of glibc's heap to the kernel (<c>malloc_trim(0)</c>); true when it released any. A no-op
    /// (false) off Linux, and on a Linux whose C library has no <c>malloc_trim</c> (musl).
    /// </summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return MallocTrim(0) != 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
