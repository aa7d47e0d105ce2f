namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// What the masked area starts from before it is noised (AUTOMATIC1111's <c>inpainting_fill</c>, with its numbers).
/// </summary>
public enum InpaintFill
{
    /// <summary>The colours around the area, flowed into it (A1111 "fill", its API default).</summary>
    Fill = 0,

    /// <summary>What the init image has there (A1111 "original"; diffusers' inpainting pipelines).</summary>
    Original = 1,

    /// <summary>Unit noise in the latents (A1111 "latent noise"; the run's own initial noise).</summary>
    LatentNoise = 2,

    /// <summary>Zero latents (A1111 "latent nothing").</summary>
    LatentNothing = 3,
}
