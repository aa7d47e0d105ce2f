namespace OrleansDiffusion.Contracts;

[GenerateSerializer, Alias("od.JobStatus")]
public enum JobStatus
{
    /// <summary>No job was submitted under this id.</summary>
    None,
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}
