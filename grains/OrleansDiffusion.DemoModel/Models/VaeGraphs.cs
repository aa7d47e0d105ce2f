using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// The demo VAE. Decoder: latents (unscaled, the pipeline divides by 0.18215) times 0.18215, a fixed latent-to-RGB
/// colour matrix, bilinear x8 upsampling, a light smoothing and a tanh that rolls strong colours off softly instead of
/// clipping them flat. Encoder: the inverse tanh, 8x8 average pooling and the colour matrix's pseudo-inverse, so that
/// decode(encode(image)) is close to a smooth image.
/// </summary>
internal static class VaeGraphs
{
    // Pure black or white would need an infinite latent; they are encoded as tanh^-1(0.98), about 2.3.
    private const float EncoderInputLimit = 0.98f;

    /// <param name="path">The model file.</param>
    /// <param name="signature">The flavour.</param>
    /// <param name="scalingFactor">The VAE's scaling factor: 0.18215 (SD), 0.13025 (SDXL).</param>
    /// <param name="activationScale">
    /// SDXL: the size of the decoder's activations, whose mean square a normalisation takes in the flavour's float type.
    /// Large (the SDXL VAE), it overflows float16 and the picture is NaN, as the real VAE does unless run in float32; small
    /// (the fp16-fix VAE) it does not. Null for SD, which has no such step.
    /// </param>
    public static void WriteDecoder(string path, DemoModelSignature signature, float scalingFactor = DemoModelWeights.VaeScalingFactor, float? activationScale = null)
    {
        const int c = DemoModelWeights.LatentChannels;
        var g = new OnnxGraphBuilder("demo_vae_decoder");
        var input = g.Input("latent_sample", signature.Float, "batch", (long)c, "height", "width");
        var latents = g.Node("Mul", [g.CastTo(input, signature.Float, DataType.Float), g.Scalar("scaling_factor", scalingFactor)]);
        var rgb = g.Node("Conv", [latents, g.Constant("latent_to_rgb", DemoModelWeights.LatentToRgb, 3, c, 1, 1)],
            OnnxAttribute.Ints("kernel_shape", 1, 1));
        if (activationScale is { } scale)
        {
            // rgb * rms / rms, where rms is the root mean square of rgb * scale as the flavour's float holds it: 1 in float32;
            // in float16 the square of a large activation is infinite and the result NaN.
            var squared = g.Node("Mul", [g.Node("Mul", [rgb, g.Scalar("activation_scale", scale)]), g.Node("Mul", [rgb, g.Scalar("activation_scale_again", scale)])]);
            var held = g.CastTo(g.CastTo(squared, DataType.Float, signature.Float), signature.Float, DataType.Float);
            var rms = g.Node("Sqrt", [g.Node("ReduceMean", [held], OnnxAttribute.Int("keepdims", 1))]);
            rgb = g.Node("Div", [g.Node("Mul", [rgb, rms]), rms]);
        }

        // Schedulers that end at alphas_cumprod[0] (PNDM, DDIM) leave noise of about 0.03 in the latents; a light blur
        // at latent resolution keeps it from showing as an 8-pixel grain.
        var latentPadded = g.Node("Pad", [rgb, g.Int64s("latent_pads", 0, 0, 1, 1, 0, 0, 1, 1)], OnnxAttribute.String("mode", "edge"));
        var latentSmoothed = g.Node("Conv", [latentPadded, g.Constant("latent_smoothing_kernel", DemoModelWeights.SmoothingKernel3x3(3), 3, 1, 3, 3)],
            OnnxAttribute.Int("group", 3), OnnxAttribute.Ints("kernel_shape", 3, 3));
        var upsampled = g.Node("Resize", [latentSmoothed, string.Empty, g.Constant("scales", [1f, 1f, 8f, 8f], 4)],
            OnnxAttribute.String("mode", "linear"));
        var padded = g.Node("Pad", [upsampled, g.Int64s("pads_1", 0, 0, 1, 1, 0, 0, 1, 1)], OnnxAttribute.String("mode", "edge"));
        var smoothed = g.Node("Conv", [padded, g.Constant("smoothing_kernel", DemoModelWeights.SmoothingKernel3x3(3), 3, 1, 3, 3)],
            OnnxAttribute.Int("group", 3), OnnxAttribute.Ints("kernel_shape", 3, 3));
        var image = g.Node("Tanh", [smoothed]);
        g.Output(g.CastTo(image, DataType.Float, signature.Float), "sample", signature.Float, "batch", 3L, "image_height", "image_width");
        g.Save(path, DemoModelWriter.DemoModelNotice);
    }

    public static void WriteEncoder(string path, DemoModelSignature signature, float scalingFactor = DemoModelWeights.VaeScalingFactor)
    {
        const int c = DemoModelWeights.LatentChannels;
        var g = new OnnxGraphBuilder("demo_vae_encoder");
        var input = g.Input("sample", signature.Float, "batch", 3L, "image_height", "image_width");
        var clipped = g.Node("Clip", [g.CastTo(input, signature.Float, DataType.Float), g.Scalar("min", -EncoderInputLimit), g.Scalar("max", EncoderInputLimit)]);
        var pooled = g.Node("AveragePool", [g.Node("Atanh", [clipped])],
            OnnxAttribute.Ints("kernel_shape", 8, 8), OnnxAttribute.Ints("strides", 8, 8));
        var mean = g.Node("Conv", [pooled, g.Constant("rgb_to_latent", DemoModelWeights.RgbToUnscaledLatent(scalingFactor), c, 3, 1, 1)],
            OnnxAttribute.Ints("kernel_shape", 1, 1));

        var output = mean;
        var channels = (long)c;
        if (signature.EncoderOutputsLatentParameters)
        {
            var logVariance = g.Node("Expand", [
                g.Constant("log_variance", [.. Enumerable.Repeat(DemoModelWeights.EncoderLogVariance, c)], 1, c, 1, 1),
                g.Node("Shape", [mean])]);
            output = g.Node("Concat", [mean, logVariance], OnnxAttribute.Int("axis", 1));
            channels = 2 * c;
        }

        g.Output(g.CastTo(output, DataType.Float, signature.Float), signature.VaeEncoderOutput, signature.Float, "batch", channels, "height", "width");
        g.Save(path, DemoModelWriter.DemoModelNotice);
    }
}
