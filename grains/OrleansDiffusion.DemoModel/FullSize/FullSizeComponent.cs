namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>A network of a full-size folder: its folder name, its parameter count and its size on disk (graph and weights).</summary>
public sealed record FullSizeComponent(string Name, long Parameters, long Bytes);
