using System.Security.Cryptography;
using Orleans.Storage;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// Makes the job-id key once and keeps it with the jobs (it must outlive API processes as long as the job records do,
/// or their ids would stop being recognised). Two activations racing at first use cannot both win: the loser's write
/// fails on the storage's etag and it takes the stored key instead.
/// </summary>
public sealed class JobIdKeyGrain(
    [PersistentState("jobidkey", StorageNames.Jobs)] IPersistentState<JobIdKeyState> state) : Grain, IJobIdKeyGrain
{
    public const int KeyBytes = 32;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Key is { Length: KeyBytes })
        {
            return;
        }

        state.State.Key = RandomNumberGenerator.GetBytes(KeyBytes);
        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            await state.ReadStateAsync();
            if (state.State.Key is not { Length: KeyBytes })
            {
                throw;
            }
        }
    }

    public Task<byte[]> GetKey() => Task.FromResult(state.State.Key!);
}

[GenerateSerializer, Alias("od.JobIdKeyState")]
public sealed class JobIdKeyState
{
    [Id(0)] public byte[]? Key { get; set; }
}
