namespace OrleansDiffusion.DemoModel;

/// <summary>Which model family a demo model is shaped like.</summary>
public enum DemoModelFamily
{
    /// <summary>Stable Diffusion 1.x (2.x with <see cref="DemoModelOptions.HiddenSize"/> 1024): one text encoder.</summary>
    StableDiffusion,

    /// <summary>
    /// SDXL base: two text encoders (tiny: 32 and 48 wide, concatenated to 80 where the real model has 2048) with hidden
    /// states, <c>text_embeds</c> from the second, a UNet that takes <c>text_embeds</c> and <c>time_ids</c>, the SDXL
    /// VAE scaling factor 0.13025, 1024 x 1024 by default, <c>force_zeros_for_empty_prompt</c>.
    /// </summary>
    StableDiffusionXL,

    /// <summary>SDXL-Turbo: as <see cref="StableDiffusionXL"/>, 512 x 512, Euler ancestral with "trailing" timesteps.</summary>
    StableDiffusionXLTurbo,
}
