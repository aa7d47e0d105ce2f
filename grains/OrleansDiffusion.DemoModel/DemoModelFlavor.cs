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

    /// <summary>
    /// Olive with <c>keep_io_types: false</c>: as <see cref="Diffusers"/> with every float input and output float16. SDXL:
    /// Olive's <c>--use_fp16_fixed_vae</c> export, <c>input_ids</c> int32 then int64, <c>timestep</c> float16
    /// <c>[B]</c>, the fp16-fix VAE (<c>force_upcast</c> false), the UNet's weights in <c>model.onnx.data</c>.
    /// </summary>
    OliveFp16,

    /// <summary>
    /// optimum with <c>--dtype fp16</c>: as <see cref="Optimum"/> with every float input and output float16 (the
    /// <c>timestep</c> scalar too). SDXL: its VAE computes in float16 and overflows there, as the real one does, so it
    /// decodes only when run in float32 (<c>force_upcast</c>).
    /// </summary>
    OptimumFp16,

    /// <summary>
    /// Olive's default (<c>keep_io_types: true</c>): float32 inputs and outputs, <c>input_ids</c> int32 (SDXL's second
    /// encoder int64), <c>timestep</c> float <c>[B]</c>, <c>latent_sample</c>, the UNet's weights in
    /// <c>model.onnx.data</c>; SDXL marks every axis Olive's configs mark dynamic (the latent channels included).
    /// </summary>
    Olive,
}
