using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Retention;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Cluster.Tests.Cluster;

public sealed class SlotReleaseTests
{
    /// <summary>The real local-disk store behind a gate: a generated image is held until the test opens it.</summary>
    private sealed class GatedImageStore(IImageStore inner) : IImageStore
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Open() => _open.TrySetResult();

        public async Task<ImageRef> SaveImageAsync(ReadOnlyMemory<byte> png, long seed, int width, int height, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _waiting);
            await _open.Task.WaitAsync(cancellationToken);
            return await inner.SaveImageAsync(png, seed, width, height, cancellationToken);
        }

        public Task<string> SaveInputAsync(byte[] bytes, CancellationToken cancellationToken) => inner.SaveInputAsync(bytes, cancellationToken);

        public Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken) => inner.ReadAsync(key, cancellationToken);

        public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);

        public Task<Uri?> GetReadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken) => inner.GetReadUrlAsync(key, validFor, cancellationToken);
    }

    [Fact]
    public async Task The_next_job_runs_all_its_steps_while_the_previous_image_waits_to_be_stored()
    {
        GatedImageStore? gate = null;
        await using var harness = await ClusterHarness.StartAsync(1, services: s =>
        {
            s.AddSingleton(sp => new LocalDiskImageStore(sp.GetRequiredService<IOptions<ImageStoreOptions>>()));
            s.AddSingleton<IRetentionStore>(sp => sp.GetRequiredService<LocalDiskImageStore>());
            s.AddSingleton<IImageStore>(sp => gate = new GatedImageStore(sp.GetRequiredService<LocalDiskImageStore>()));
        });

        // One silo, one slot: the second job can only run once the first has let go of the slot.
        var (first, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("held in storage", 1, steps: 4));
        await ClusterHarness.EventuallyAsync(() => Task.FromResult(gate?.Waiting >= 1), TimeSpan.FromSeconds(60), "the first image at the store");

        var (second, _) = await harness.SubmitAsync(ClusterHarness.SmallSpec("runs meanwhile", 2, steps: 4));
        await ClusterHarness.EventuallyAsync(() => Task.FromResult(gate!.Waiting >= 2), TimeSpan.FromSeconds(60), "the second image at the store");

        // The second job computed its image while the first job's was still held.
        var held = await harness.Job(first).GetSnapshot();
        Assert.False(held.IsTerminal, $"the first job is {held.Status} while its image is held");
        var ran = await harness.Job(second).GetSnapshot();
        Assert.Equal(ran.TotalSteps, ran.Step);

        gate!.Open();
        Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(first)).Status);
        Assert.Equal(JobStatus.Succeeded, (await harness.WaitAsync(second)).Status);
    }
}
