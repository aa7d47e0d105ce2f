namespace OrleansDiffusion.DemoModel;

/// <summary>Which networks a demo model folder holds.</summary>
public enum DemoModelArchitecture
{
    /// <summary>A few hand-built operators, a few MB, that turn noise into prompt-tinted colour fields (the default).</summary>
    Tiny,

    /// <summary>
    /// The full-size networks of Stable Diffusion 1.5 (UNet 859.5 M parameters, CLIP ViT-L/14 text 123.1 M, VAE 83.7 M)
    /// with generated weights: real sizes and real cost, no pictures.
    /// </summary>
    StableDiffusion15,

    /// <summary>
    /// The full-size networks of SDXL base 1.0 (UNet 2567.5 M parameters, CLIP ViT-L/14 text 123.1 M, OpenCLIP ViT-bigG/14
    /// text 694.7 M, VAE 83.7 M) with generated weights: real sizes and real cost, no pictures.
    /// </summary>
    StableDiffusionXL,
}
