using OrleansDiffusion.DemoModel.Onnx;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// diffusers' <c>AutoencoderKL</c> as the two graphs optimum exports (<c>vae.py</c>, <c>resnet.py</c>): the decoder
/// (<c>post_quant_conv</c>, conv_in, the mid block with its single-head attention, the up blocks with nearest x2 and a
/// conv, the output norm and conv) and the encoder (conv_in, the down blocks with asymmetrically padded strided convs,
/// the mid block, the output norm and conv to mean and log-variance, <c>quant_conv</c>).
/// </summary>
internal static class VaeModel
{
    private const float Epsilon = 1e-6f;

    public static void BuildDecoder(LayerBuilder b, VaeConfig config, DemoModelSignature signature)
    {
        var g = b.Graph;
        var channels = config.BlockOutChannels;
        var latents = g.CastTo(g.Input("latent_sample", signature.Float, "batch", (long)VaeConfig.LatentChannels, "height", "width"), signature.Float, b.Type);
        var h = b.Conv("post_quant_conv", latents, VaeConfig.LatentChannels, VaeConfig.LatentChannels, 1);
        var current = channels[^1];
        h = b.Conv("decoder.conv_in", h, VaeConfig.LatentChannels, current, 3);
        h = MidBlock(b, "decoder.mid_block", h, current, config.Groups);
        for (var i = 0; i < channels.Length; i++)
        {
            var output = channels[channels.Length - 1 - i];
            for (var layer = 0; layer <= VaeConfig.LayersPerBlock; layer++)
            {
                h = Resnet(b, $"decoder.up_blocks.{i}.resnets.{layer}", h, current, output, config.Groups);
                current = output;
            }

            if (i < channels.Length - 1)
            {
                var upsampled = g.Node("Resize", [h, string.Empty, g.Constant("scales", [1f, 1f, 2f, 2f], 4)],
                    OnnxAttribute.String("mode", "nearest"),
                    OnnxAttribute.String("coordinate_transformation_mode", "asymmetric"),
                    OnnxAttribute.String("nearest_mode", "floor"));
                h = b.Conv($"decoder.up_blocks.{i}.upsamplers.0.conv", upsampled, current, current, 3);
            }
        }

        h = b.Silu(b.GroupNorm("decoder.conv_norm_out", h, current, config.Groups, Epsilon));
        h = b.Conv("decoder.conv_out", h, current, 3, 3);
        g.Output(g.CastTo(h, b.Type, signature.Float), "sample", signature.Float, "batch", 3L, "image_height", "image_width");
    }

    public static void BuildEncoder(LayerBuilder b, VaeConfig config, DemoModelSignature signature)
    {
        var g = b.Graph;
        var channels = config.BlockOutChannels;
        var image = g.CastTo(g.Input("sample", signature.Float, "batch", 3L, "image_height", "image_width"), signature.Float, b.Type);
        var current = channels[0];
        var h = b.Conv("encoder.conv_in", image, 3, current, 3);
        for (var i = 0; i < channels.Length; i++)
        {
            for (var layer = 0; layer < VaeConfig.LayersPerBlock; layer++)
            {
                h = Resnet(b, $"encoder.down_blocks.{i}.resnets.{layer}", h, current, channels[i], config.Groups);
                current = channels[i];
            }

            if (i < channels.Length - 1)
            {
                // Downsample2D(padding=0): pad right and bottom by one, then a stride-2 3x3 conv.
                h = b.Conv($"encoder.down_blocks.{i}.downsamplers.0.conv", h, current, current, 3, stride: 2, pads: [0, 0, 1, 1]);
            }
        }

        h = MidBlock(b, "encoder.mid_block", h, current, config.Groups);
        h = b.Silu(b.GroupNorm("encoder.conv_norm_out", h, current, config.Groups, Epsilon));
        h = b.Conv("encoder.conv_out", h, current, 2 * VaeConfig.LatentChannels, 3);
        var moments = b.Conv("quant_conv", h, 2 * VaeConfig.LatentChannels, 2 * VaeConfig.LatentChannels, 1);

        // optimum >= 1.24 outputs mean and log-variance; the older exports the mean (the distribution's mode) alone.
        var output = signature.EncoderOutputsLatentParameters
            ? moments
            : g.Node("Slice", [moments, g.Int64s("start", 0), g.Int64s("end", VaeConfig.LatentChannels), g.Int64s("channel_axis", 1)]);
        var outputChannels = signature.EncoderOutputsLatentParameters ? 2L * VaeConfig.LatentChannels : VaeConfig.LatentChannels;
        g.Output(g.CastTo(output, b.Type, signature.Float), signature.VaeEncoderOutput, signature.Float, "batch", outputChannels, "height", "width");
    }

    /// <summary><c>UNetMidBlock2D</c>: a resnet, single-head self-attention over the pixels (group-normed, residual), a resnet.</summary>
    private static string MidBlock(LayerBuilder b, string name, string x, int channels, int groups)
    {
        var g = b.Graph;
        var h = Resnet(b, $"{name}.resnets.0", x, channels, channels, groups);
        var normed = b.GroupNorm($"{name}.attentions.0.group_norm", h, channels, groups, Epsilon);
        var flat = g.Node("Transpose", [g.Node("Reshape", [normed, g.Int64s("flatten_shape", 0, 0, -1)])], OnnxAttribute.Ints("perm", 0, 2, 1));
        var attention = $"{name}.attentions.0";
        var attended = b.Attention(flat, null, channels, channels, 1, true,
            [$"{attention}.to_q", $"{attention}.to_k", $"{attention}.to_v", $"{attention}.to_out.0"]);
        var restored = g.Node("Reshape", [g.Node("Transpose", [attended], OnnxAttribute.Ints("perm", 0, 2, 1)), g.Node("Shape", [h])]);
        h = g.Node("Add", [h, restored]);
        return Resnet(b, $"{name}.resnets.1", h, channels, channels, groups);
    }

    /// <summary><c>ResnetBlock2D</c> without a time embedding.</summary>
    private static string Resnet(LayerBuilder b, string name, string x, int inputs, int outputs, int groups)
    {
        var h = b.Conv($"{name}.conv1", b.Silu(b.GroupNorm($"{name}.norm1", x, inputs, groups, Epsilon)), inputs, outputs, 3);
        h = b.Conv($"{name}.conv2", b.Silu(b.GroupNorm($"{name}.norm2", h, outputs, groups, Epsilon)), outputs, outputs, 3, gain: LayerBuilder.ResidualGain);
        var shortcut = inputs == outputs ? x : b.Conv($"{name}.conv_shortcut", x, inputs, outputs, 1);
        return b.Graph.Node("Add", [shortcut, h]);
    }
}
