namespace OrleansDiffusion.Contracts;

/// <summary>A stored PNG: its content-addressed key in the image store and what it shows.</summary>
[GenerateSerializer, Immutable, Alias("od.ImageRef")]
public sealed record ImageRef(
    [property: Id(0)] string Key,
    [property: Id(1)] long Seed,
    [property: Id(2)] int Width,
    [property: Id(3)] int Height,
    [property: Id(4)] long Bytes);
