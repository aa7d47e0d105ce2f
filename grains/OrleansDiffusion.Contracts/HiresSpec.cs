namespace OrleansDiffusion.Contracts;

/// <summary>
/// AUTOMATIC1111's hires fix on a txt2img spec: a second img2img pass over the first pass's latents enlarged by a latent
/// upscaler. The spec's own width and height are the first pass's; <see cref="Width"/> x <see cref="Height"/> is the
/// image's, resolved by the cluster when it normalises the spec.
/// </summary>
[GenerateSerializer, Immutable, Alias("od.HiresSpec")]
public sealed record HiresSpec
{
    /// <summary>Enlargement of the first pass (A1111's <c>hr_scale</c>); 0 once normalised when a resize side is given.</summary>
    [Id(0)] public float Scale { get; init; } = 2f;

    /// <summary>Target width instead of the scale (A1111's <c>hr_resize_x</c>); 0 follows the height's ratio.</summary>
    [Id(1)] public int ResizeWidth { get; init; }

    /// <summary>Target height instead of the scale (A1111's <c>hr_resize_y</c>); 0 follows the width's ratio.</summary>
    [Id(2)] public int ResizeHeight { get; init; }

    /// <summary>Second-pass steps (A1111's <c>hr_second_pass_steps</c>); 0 runs as many as the first pass.</summary>
    [Id(3)] public int Steps { get; init; }

    /// <summary>How much the second pass repaints (A1111's <c>denoising_strength</c>), in (0, 1].</summary>
    [Id(4)] public float DenoisingStrength { get; init; } = 0.75f;

    /// <summary>A latent upscaler by A1111's name: <c>Latent</c>, <c>Latent (nearest)</c>, ...</summary>
    [Id(5)] public string Upscaler { get; init; } = "Latent";

    /// <summary>The image's width, resolved by the cluster (0 before).</summary>
    [Id(6)] public int Width { get; init; }

    /// <summary>The image's height, resolved by the cluster (0 before).</summary>
    [Id(7)] public int Height { get; init; }

    /// <summary>The UNet steps the second pass runs for a first pass of <paramref name="firstPassSteps"/>.</summary>
    public int StepsAfter(int firstPassSteps) => Steps == 0 ? firstPassSteps : Steps;
}
