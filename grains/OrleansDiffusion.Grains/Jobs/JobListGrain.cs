using Orleans.Concurrency;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>Reads a key's page of the job index where it is called (the index is the silo's <see cref="IJobIndex"/>).</summary>
[StatelessWorker]
public sealed class JobListGrain(IJobIndex index) : Grain, IJobListGrain
{
    /// <summary>The most entries one call reads: a page costs at most one bounded range read.</summary>
    public const int MaxPage = 100;

    public Task<JobIndexPage> List(string? after, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(max, MaxPage);
        if (after is not null && !IJobIndex.IsPosition(after))
        {
            throw new ArgumentException("Not a position in the job index.", nameof(after));
        }

        return index.ListAsync(this.GetPrimaryKeyString(), after, max, CancellationToken.None);
    }
}
