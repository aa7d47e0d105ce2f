using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// What a UNet export expects, read from its metadata (the exports differ most in <c>timestep</c>). SDXL's UNets add
/// <c>text_embeds</c> (the pooled, projected text) and <c>time_ids</c> (original size, crop top-left, target size).
/// </summary>
public sealed record UNetSignature(
    TensorSpec Sample,
    TensorSpec Timestep,
    TensorSpec EncoderHiddenStates,
    TensorSpec? TimestepCond,
    TensorSpec OutSample)
{
    /// <summary>SDXL: <c>text_embeds [batch, pooled size]</c>; null for SD 1.x/2.x.</summary>
    public TensorSpec? TextEmbeds { get; init; }

    /// <summary>SDXL: <c>time_ids [batch, 6]</c>; null for SD 1.x/2.x.</summary>
    public TensorSpec? TimeIds { get; init; }

    public const string SampleName = "sample";
    public const string TimestepName = "timestep";
    public const string EncoderHiddenStatesName = "encoder_hidden_states";
    public const string TimestepCondName = "timestep_cond";
    public const string OutSampleName = "out_sample";

    /// <summary>What the UNet is: plain, inpainting (9-channel <c>sample</c>), LCM (<c>timestep_cond</c>).</summary>
    public required UNetKind Kind { get; init; }

    /// <summary>Latent channels, which the UNet denoises and returns (4 for SD 1.x/2.x, inpainting UNets included).</summary>
    public int LatentChannels => UNetKind.LatentChannels;

    /// <summary>Channels of <c>sample</c>: the latents, and for an inpainting UNet the mask and the masked-image latents.</summary>
    public int SampleChannels => Kind.InputChannels;

    /// <summary>A fixed batch size the export was traced with, or null when the batch axis is dynamic.</summary>
    public int? FixedBatch => Sample.Dimensions[0] > 0 ? Sample.Dimensions[0] : null;

    internal static UNetSignature Read(OnnxComponent unet)
    {
        var sample = unet.RequireInput(SampleName, 4);
        var timestep = unet.RequireInput(TimestepName, 0, 1);
        var hidden = unet.RequireInput(EncoderHiddenStatesName, 3);
        var cond = unet.FindInput(TimestepCondName);
        var textEmbeds = unet.FindInput(ModelFolder.TextEmbedsName);
        var timeIds = unet.FindInput(ModelFolder.TimeIdsName);
        var known = new[] { SampleName, TimestepName, EncoderHiddenStatesName, TimestepCondName, ModelFolder.TextEmbedsName, ModelFolder.TimeIdsName };
        var unknown = unet.Inputs.Where(i => !known.Contains(i.Name)).Select(i => i.Name).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidModelException(unet.Path, $"unsupported UNet inputs {string.Join(", ", unknown)}.");
        }

        if ((textEmbeds is null) != (timeIds is null))
        {
            throw new InvalidModelException(unet.Path, $"an SDXL UNet takes both {ModelFolder.TextEmbedsName} and {ModelFolder.TimeIdsName}; this one has only {(textEmbeds ?? timeIds)!.Name}.");
        }

        if (textEmbeds is not null && timeIds is not null)
        {
            RequireFloat(unet, textEmbeds);
            RequireFloat(unet, timeIds);
            if (textEmbeds.Rank != 2 || timeIds.Rank != 2)
            {
                throw new InvalidModelException(unet.Path, $"{textEmbeds} and {timeIds} must both be [batch, size].");
            }
        }

        RequireFloat(unet, sample);
        RequireFloat(unet, hidden);
        if (timestep.ElementType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.Int64 or TensorElementType.Int32))
        {
            throw new InvalidModelException(unet.Path, $"timestep has element type {timestep.ElementType}; expected float, float16, int64 or int32.");
        }

        if (cond is not null)
        {
            RequireFloat(unet, cond);
        }

        var kind = UNetKind.From(unet.Path, unet.Inputs);

        var output = unet.FindOutput(OutSampleName) ?? unet.Outputs[0];
        if (output.Rank != 4)
        {
            throw new InvalidModelException(unet.Path, $"output {output} must have rank 4.");
        }

        RequireFloat(unet, output);
        if (output.Dimensions[1] > 0 && output.Dimensions[1] != UNetKind.LatentChannels)
        {
            throw new InvalidModelException(unet.Path, $"output {output} must have {UNetKind.LatentChannels} channels.");
        }

        return new UNetSignature(sample, timestep, hidden, cond, output) { Kind = kind, TextEmbeds = textEmbeds, TimeIds = timeIds };
    }

    internal static void RequireFloat(OnnxComponent component, TensorSpec spec)
    {
        if (spec.ElementType is not (TensorElementType.Float or TensorElementType.Float16))
        {
            throw new InvalidModelException(component.Path, $"{spec} must be float or float16.");
        }
    }
}
