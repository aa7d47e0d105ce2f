namespace OrleansDiffusion.Grains.Scaling;

/// <summary>The queue's work at one moment: requests waiting and running, and what they cost in units (<c>QueueEntry.Cost</c>).</summary>
public readonly record struct QueueLoad(int Pending, int Running, long PendingUnits, long RunningUnits);
