using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel;

/// <summary>The input and output names, element types and shapes that differ between the flavours.</summary>
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

    public static DemoModelSignature For(DemoModelFlavor flavor) => flavor switch
    {
        DemoModelFlavor.Optimum => new(DataType.Int64, "sequence", DataType.Float, true, DataType.Float, "latent_parameters", true),
        DemoModelFlavor.OptimumLegacy => new(DataType.Int64, "sequence", DataType.Int64, false, DataType.Float, "latent_sample", true),
        DemoModelFlavor.Diffusers => new(DataType.Int32, (long)MaxSequenceLength, DataType.Float, false, DataType.Float, "latent_sample", false),
        DemoModelFlavor.OliveFp16 => new(DataType.Int32, (long)MaxSequenceLength, DataType.Float16, false, DataType.Float16, "latent_sample", false),
        _ => throw new ArgumentOutOfRangeException(nameof(flavor), flavor, "Unknown demo model flavour."),
    };
}
