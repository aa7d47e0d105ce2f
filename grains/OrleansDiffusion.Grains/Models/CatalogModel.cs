using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Grains.Models;

/// <summary>A configured model: its id, its folder (checked at start) and the fingerprint of its files.</summary>
public sealed record CatalogModel(string Id, ModelFolder Folder, string Hash);
