using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// A configured model: its id, its folder (checked at start), the fingerprint of its files and what its UNet is (read
/// from the UNet's declared inputs at start: inpainting, LCM).
/// </summary>
public sealed record CatalogModel(string Id, ModelFolder Folder, string Hash, UNetKind UNet)
{
    /// <summary>Init images and masks need the VAE encoder, and so does an inpainting UNet for its masked image.</summary>
    public bool CanEncodeImages => Folder.HasVaeEncoder;

    /// <summary>The scheduler a spec without one gets: the folder's, or LCM for an LCM UNet.</summary>
    public SchedulerKind DefaultScheduler => SchedulerFactory.DefaultFor(Folder.SchedulerConfig, UNet);
}
