using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// The demo VAE. Decoder: latents (unscaled, the pipeline divides by 0.18215) times 0.18215, a fixed latent-to-RGB
/// colour matrix, bilinear x8 upsampling, a light smoothing, clipped to [-1, 1]. Encoder: 8x8 average pooling and the
/// colour matrix's pseudo-inverse, so that decode(encode(image)) is close to a smooth image.
/// </summary>
internal static class VaeGraphs
{
    public static void WriteDecoder(string path, DemoModelSignature signature)
    {
        const int c = DemoModelWeights.LatentChannels;
        var g = new OnnxGraphBuilder("demo_vae_decoder");
        var input = g.Input("latent_sample", signature.Float, "batch", (long)c, "height", "width");
        var latents = g.Node("Mul", [g.CastTo(input, signature.Float, DataType.Float), g.Scalar("scaling_factor", DemoModelWeights.VaeScalingFactor)]);
        var rgb = g.Node("Conv", [latents, g.Constant("latent_to_rgb", DemoModelWeights.LatentToRgb, 3, c, 1, 1)],
            OnnxAttribute.Ints("kernel_shape", 1, 1));
        var upsampled = g.Node("Resize", [rgb, string.Empty, g.Constant("scales", [1f, 1f, 8f, 8f], 4)],
            OnnxAttribute.String("mode", "linear"));
        var padded = g.Node("Pad", [upsampled, g.Int64s("pads_1", 0, 0, 1, 1, 0, 0, 1, 1)], OnnxAttribute.String("mode", "edge"));
        var smoothed = g.Node("Conv", [padded, g.Constant("smoothing_kernel", DemoModelWeights.SmoothingKernel3x3(3), 3, 1, 3, 3)],
            OnnxAttribute.Int("group", 3), OnnxAttribute.Ints("kernel_shape", 3, 3));
        var image = g.Node("Clip", [smoothed, g.Scalar("min", -1f), g.Scalar("max", 1f)]);
        g.Output(g.CastTo(image, DataType.Float, signature.Float), "sample", signature.Float, "batch", 3L, "image_height", "image_width");
        g.Save(path, DemoModelWriter.DemoModelNotice);
    }

    public static void WriteEncoder(string path, DemoModelSignature signature)
    {
        const int c = DemoModelWeights.LatentChannels;
        var g = new OnnxGraphBuilder("demo_vae_encoder");
        var input = g.Input("sample", signature.Float, "batch", 3L, "image_height", "image_width");
        var pooled = g.Node("AveragePool", [g.CastTo(input, signature.Float, DataType.Float)],
            OnnxAttribute.Ints("kernel_shape", 8, 8), OnnxAttribute.Ints("strides", 8, 8));
        var mean = g.Node("Conv", [pooled, g.Constant("rgb_to_latent", DemoModelWeights.RgbToUnscaledLatent(), c, 3, 1, 1)],
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
