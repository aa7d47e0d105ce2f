namespace OrleansDiffusion.Contracts;

/// <summary>One change of a job, as observers (SignalR later) receive it.</summary>
[GenerateSerializer, Immutable, Alias("od.JobEvent")]
public sealed record JobEvent(
    [property: Id(0)] Guid JobId,
    [property: Id(1)] JobEventKind Kind,
    [property: Id(2)] JobSnapshot Snapshot,
    [property: Id(3)] byte[]? Preview = null,
    [property: Id(4)] double? EtaSeconds = null);

[GenerateSerializer, Alias("od.JobEventKind")]
public enum JobEventKind
{
    Queued,
    Started,
    Progress,
    Completed,
    Failed,
    Cancelled,
}
