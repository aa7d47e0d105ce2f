namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// What a UNet export can do, as its inputs say: a 9-channel <c>sample</c> is an inpainting UNet (latents, mask and
/// masked-image latents), a <c>timestep_cond</c> input an LCM-distilled one (the guidance goes in as an embedding, with
/// no unconditional pass). Read from the file alone (<see cref="Read"/>) or from a loaded model's signature.
/// </summary>
/// <param name="InputChannels">Channels of <c>sample</c>: 4, or 9 for inpainting.</param>
/// <param name="GuidanceEmbeddingSize">Width of <c>timestep_cond</c> (diffusers' <c>time_cond_proj_dim</c>); 0 without it.</param>
public sealed record UNetKind(int InputChannels, int GuidanceEmbeddingSize)
{
    /// <summary>The channels of the latents the UNet denoises (and returns).</summary>
    public const int LatentChannels = 4;

    /// <summary>An inpainting UNet's <c>sample</c>: latents (4), mask (1), masked-image latents (4).</summary>
    public const int InpaintingChannels = (2 * LatentChannels) + 1;

    /// <summary>A 9-channel inpainting UNet (SD 1.5, SD 2 and SDXL inpainting exports).</summary>
    public bool Inpainting => InputChannels == InpaintingChannels;

    /// <summary>An LCM UNet: it takes the guidance scale as an embedding and runs without a CFG batch.</summary>
    public bool Lcm => GuidanceEmbeddingSize > 0;

    /// <summary>Reads the kind of the UNet at <paramref name="unetPath"/> from its declared inputs, without loading it.</summary>
    /// <exception cref="InvalidModelException">The file cannot be read, or its inputs are not a UNet's.</exception>
    public static UNetKind Read(string unetPath)
    {
        IReadOnlyList<OnnxValueInfo> inputs;
        try
        {
            inputs = OnnxGraphHeader.Read(unetPath).Inputs;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelException(unetPath, $"cannot read its ONNX inputs: {e.Message}", e);
        }

        return From(unetPath, [.. inputs.Select(i => new TensorSpec(i.Name, i.ElementType, i.Dimensions))]);
    }

    internal static UNetKind From(string path, IReadOnlyList<TensorSpec> inputs)
    {
        var sample = inputs.FirstOrDefault(i => i.Name == UNetSignature.SampleName)
            ?? throw new InvalidModelException(path, $"has no input named '{UNetSignature.SampleName}'.");
        var channels = sample.Rank == 4 && sample.Dimensions[1] > 0 ? sample.Dimensions[1] : LatentChannels;
        if (channels is not (LatentChannels or InpaintingChannels))
        {
            throw new InvalidModelException(path, $"its sample takes {channels} channels; 4 (text to image) and 9 (inpainting: latents, mask, masked-image latents) are supported.");
        }

        var cond = inputs.FirstOrDefault(i => i.Name == UNetSignature.TimestepCondName);
        var embedding = cond is { Rank: 2 } && cond.Dimensions[1] > 0 ? cond.Dimensions[1] : 0;
        if (cond is not null && embedding == 0)
        {
            throw new InvalidModelException(path, $"{UNetSignature.TimestepCondName} must be [batch, embedding size] with a fixed size, not {cond}.");
        }

        return new UNetKind(channels, embedding);
    }
}
