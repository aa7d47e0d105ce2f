namespace OrleansDiffusion.DemoModel;

/// <summary>
/// Which public exporter's signatures a demo model imitates (see <c>shared/reference/onnx-layout.md</c>).
/// </summary>
public enum DemoModelFlavor
{
    /// <summary>
    /// optimum 1.24 and later: <c>input_ids</c> int64 <c>[B, S]</c>, UNet <c>timestep</c> a float scalar,
    /// VAE encoder output <c>latent_parameters</c> (mean and log-variance); a <c>config.json</c> per component.
    /// </summary>
    Optimum,

    /// <summary>optimum 1.23 and earlier: as <see cref="Optimum"/> but <c>timestep</c> int64 <c>[B]</c> and <c>latent_sample</c>.</summary>
    OptimumLegacy,

    /// <summary>The later diffusers conversion script: <c>input_ids</c> int32 <c>[B, 77]</c>, <c>timestep</c> float <c>[B]</c>.</summary>
    Diffusers,

    /// <summary>Olive with <c>keep_io_types: false</c>: as <see cref="Diffusers"/> with every float input and output float16.</summary>
    OliveFp16,
}
