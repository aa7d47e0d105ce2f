using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel;

/// <summary>The input and output names, element types and shapes that differ between the flavours.</summary>
/// <remarks>The SDXL variants (<see cref="ForXL"/>) follow optimum's <c>model_configs.py</c> and Olive's SDXL example.</remarks>
internal sealed record DemoModelSignature(
    DataType InputIds,
    object SequenceLength,
    DataType Timestep,
    bool ScalarTimestep,
    DataType Float,
    string VaeEncoderOutput,
    bool WritesComponentConfigs)
{
    public const int MaxSequenceLength = 77;

    public bool EncoderOutputsLatentParameters => VaeEncoderOutput == "latent_parameters";

    /// <summary>SDXL: the second text encoder's <c>input_ids</c> type (int64 for both exporters).</summary>
    public DataType InputIds2 { get; init; } = DataType.Int64;

    /// <summary>
    /// Olive's SDXL configs mark every axis dynamic: the UNet's latent channels and the sizes of <c>text_embeds</c> and
    /// <c>time_ids</c> too (optimum fixes them).
    /// </summary>
    public bool DynamicChannels { get; init; }

    /// <summary>Where the UNet's weights go as ONNX external data (Olive: <c>model.onnx.data</c>); null keeps them inside.</summary>
    public string? ExternalUNetData { get; init; }

    /// <summary>SDXL: whether the VAE config sets <c>force_upcast</c>; Olive's fp16 export uses the fp16-fix VAE, which clears it.</summary>
    public bool VaeForceUpcast { get; init; } = true;

    public static DemoModelSignature For(DemoModelFlavor flavor) => flavor switch
    {
        DemoModelFlavor.Optimum => new(DataType.Int64, "sequence", DataType.Float, true, DataType.Float, "latent_parameters", true),
        DemoModelFlavor.OptimumLegacy => new(DataType.Int64, "sequence", DataType.Int64, false, DataType.Float, "latent_sample", true),
        DemoModelFlavor.Diffusers => new(DataType.Int32, (long)MaxSequenceLength, DataType.Float, false, DataType.Float, "latent_sample", false),
        DemoModelFlavor.OliveFp16 => new(DataType.Int32, (long)MaxSequenceLength, DataType.Float16, false, DataType.Float16, "latent_sample", false),
        DemoModelFlavor.OptimumFp16 => new(DataType.Int64, "sequence", DataType.Float16, true, DataType.Float16, "latent_parameters", true),
        DemoModelFlavor.Olive => new(DataType.Int32, (long)MaxSequenceLength, DataType.Float, false, DataType.Float, "latent_sample", false),
        _ => throw new ArgumentOutOfRangeException(nameof(flavor), flavor, "Unknown demo model flavour."),
    };

    /// <summary>The SDXL export of <paramref name="flavor"/>: what optimum and Olive write for SDXL.</summary>
    public static DemoModelSignature ForXL(DemoModelFlavor flavor) => flavor switch
    {
        DemoModelFlavor.Optimum or DemoModelFlavor.OptimumLegacy or DemoModelFlavor.OptimumFp16 => For(flavor),
        DemoModelFlavor.Olive => new(DataType.Int32, "sequence", DataType.Float, false, DataType.Float, "latent_sample", true)
        {
            DynamicChannels = true,
            ExternalUNetData = OliveExternalData,
        },
        DemoModelFlavor.OliveFp16 => new(DataType.Int32, "sequence", DataType.Float16, false, DataType.Float16, "latent_sample", true)
        {
            DynamicChannels = true,
            ExternalUNetData = OliveExternalData,
            VaeForceUpcast = false,
        },
        DemoModelFlavor.Diffusers => throw new ArgumentException("The diffusers conversion script does not export SDXL; use the optimum or Olive flavours.", nameof(flavor)),
        _ => throw new ArgumentOutOfRangeException(nameof(flavor), flavor, "Unknown demo model flavour."),
    };

    /// <summary>The file Olive's optimized models keep their weights in.</summary>
    public const string OliveExternalData = "model.onnx.data";
}
