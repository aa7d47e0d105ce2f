using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>
/// Finds the repository's <c>tests/</c> folder (where <c>package.json</c> names Azurite) and installs its npm packages
/// when <c>node_modules/azurite</c> is missing, so <c>dotnet test</c> works from a clean clone. Test processes that
/// start at once take turns through a file lock; the first installs, the others find it done.
/// </summary>
internal static class AzuriteInstallation
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LockPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>The entry script, relative to the tests folder.</summary>
    public static readonly string ScriptPath = Path.Combine("node_modules", "azurite", "dist", "src", "azurite.js");

    /// <summary>The nearest ancestor of the test binaries that holds <c>package.json</c> and this project's folder.</summary>
    public static string FindTestsFolder()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "package.json"))
                && Directory.Exists(Path.Combine(folder.FullName, "OrleansDiffusion.Cluster.Tests")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException(
            $"No tests/ folder (with package.json and OrleansDiffusion.Cluster.Tests/) above {AppContext.BaseDirectory}: " +
            "the storage tests run Azurite from the repository's tests/node_modules.");
    }

    /// <summary>Runs <c>npm ci</c> (or <c>npm install</c> without a lock file) in <paramref name="testsFolder"/> unless Azurite is there.</summary>
    public static async Task EnsureInstalledAsync(string testsFolder, CancellationToken cancellationToken)
    {
        // Checked under the lock too: while another test process runs npm, azurite.js can exist before its dependencies do.
        await using var installLock = await AcquireLockAsync(testsFolder, cancellationToken);
        if (IsInstalled(testsFolder))
        {
            return;
        }

        var hasLockFile = File.Exists(Path.Combine(testsFolder, "package-lock.json"));
        await RunNpmAsync(testsFolder, hasLockFile ? "ci" : "install", cancellationToken);
        if (!IsInstalled(testsFolder))
        {
            throw new InvalidOperationException(
                $"npm finished in {testsFolder} but {ScriptPath} is still missing: does package.json name azurite?");
        }
    }

    private static bool IsInstalled(string testsFolder) => File.Exists(Path.Combine(testsFolder, ScriptPath));

    private static async Task<FileStream> AcquireLockAsync(string testsFolder, CancellationToken cancellationToken)
    {
        // In the temp folder rather than the work tree: nothing to ignore or clean, one lock per checkout.
        var checkoutId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(testsFolder)))[..16];
        var lockPath = Path.Combine(Path.GetTempPath(), $"orleansdiffusion-npm-{checkoutId}.lock");
        var deadline = DateTime.UtcNow + InstallTimeout;
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive lock across processes (flock on Unix), released when the stream closes,
                // also when its process dies.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(LockPollInterval, cancellationToken);
            }
        }
    }

    private static async Task RunNpmAsync(string testsFolder, string command, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(OperatingSystem.IsWindows() ? "npm.cmd" : "npm")
        {
            WorkingDirectory = testsFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { command, "--no-audit", "--no-fund" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process npm;
        try
        {
            npm = Process.Start(startInfo) ?? throw new InvalidOperationException("npm did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException(
                $"npm was not found on PATH, and {Path.Combine(testsFolder, ScriptPath)} is missing. The storage tests need " +
                "Node.js 20+ with npm to install and run Azurite: install Node.js, or run 'npm ci --prefix tests'.", ex);
        }

        using (npm)
        {
            var output = npm.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = npm.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(InstallTimeout);
            try
            {
                await npm.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                npm.Kill(entireProcessTree: true);
                throw;
            }

            if (npm.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"'npm {command}' in {testsFolder} failed with exit code {npm.ExitCode}:\n{await output}\n{await errors}");
            }
        }
    }
}
