namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// What a model folder is, told from its files (see <see cref="ModelFolder"/>): it decides the conditioning the UNet
/// takes, the default size and the defaults a request gets. Names as the API shows them: <see cref="ModelFamilies.Name"/>.
/// </summary>
public enum ModelFamily
{
    /// <summary>Stable Diffusion 1.x: one CLIP text encoder (768 wide), UNet conditioned on its states.</summary>
    StableDiffusion1,

    /// <summary>Stable Diffusion 2.x (and SD-Turbo): one OpenCLIP text encoder 1024 wide; otherwise as 1.x.</summary>
    StableDiffusion2,

    /// <summary>
    /// Stable Diffusion XL: two text encoders whose penultimate states are concatenated, pooled text embeddings and
    /// <c>time_ids</c> micro-conditioning; 1024 x 1024 by default.
    /// </summary>
    StableDiffusionXL,

    /// <summary>
    /// An SDXL distilled to sample in a few steps without guidance (SDXL-Turbo, and exports like it): an SDXL export whose
    /// scheduler config spaces its timesteps "trailing". The same pipeline; its defaults are guidance 0 and 4 steps.
    /// </summary>
    StableDiffusionXLTurbo,
}
