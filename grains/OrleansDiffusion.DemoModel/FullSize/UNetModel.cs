using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.FullSize;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> as a graph, block for block (diffusers' <c>unet_2d_condition.py</c>,
/// <c>unet_2d_blocks.py</c>, <c>resnet.py</c>, <c>attention.py</c>): the sinusoidal time embedding and its MLP, SDXL's
/// <c>text_time</c> added embedding, <c>conv_in</c>, the down blocks (ResnetBlock2D, Transformer2DModel with
/// self-attention, cross-attention and a GEGLU feed-forward, a strided-conv downsampler), the mid block, the up blocks
/// on the skip connections (nearest x2 and a conv), <c>conv_norm_out</c> and <c>conv_out</c>, with optimum's input and
/// output names.
/// </summary>
internal static class UNetModel
{
    private const float ResnetEpsilon = 1e-5f;
    private const float TransformerNormEpsilon = 1e-6f;

    public static void Build(LayerBuilder b, UNetConfig config, DemoModelSignature signature)
    {
        var g = b.Graph;
        var channels = config.BlockOutChannels;
        object latentChannels = signature.DynamicChannels ? "channels" : (long)UNetConfig.LatentChannels;
        var sample = g.CastTo(g.Input("sample", signature.Float, "batch", latentChannels, "height", "width"), signature.Float, b.Type);
        var timestepInput = signature.ScalarTimestep
            ? g.Input("timestep", signature.Timestep)
            : g.Input("timestep", signature.Timestep, "steps");
        var context = g.CastTo(
            g.Input("encoder_hidden_states", signature.Float, "batch", "sequence", (long)config.CrossAttentionDim), signature.Float, b.Type);

        // timesteps.expand(batch), then Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0) and TimestepEmbedding.
        var batch = g.Node("Shape", [sample], OnnxAttribute.Int("start", 0), OnnxAttribute.Int("end", 1));
        var timestep = g.Node("Expand", [
            g.Node("Reshape", [g.CastTo(timestepInput, signature.Timestep, DataType.Float), g.Int64s("flat", -1)]), batch]);
        var embedding = TimestepMlp(b, "time_embedding", Sinusoids(b, timestep, channels[0]), channels[0], config.TimeEmbedDim);
        if (config.AdditionTimeEmbedDim > 0)
        {
            var textEmbeds = g.CastTo(
                g.Input("text_embeds", signature.Float, "batch", signature.DynamicChannels ? "text_embeds_size" : (long)config.PooledTextDim),
                signature.Float, b.Type);
            var timeIds = g.Input("time_ids", signature.Float, "batch", signature.DynamicChannels ? "time_ids_size" : 6L);
            var flatIds = g.Node("Reshape", [g.CastTo(timeIds, signature.Float, DataType.Float), g.Int64s("flat", -1)]);
            // The values of time_ids embedded one by one come back as one row per sample: [B * 6, 256] -> [B, 1536].
            var timeEmbeds = g.Node("Reshape", [
                Sinusoids(b, flatIds, config.AdditionTimeEmbedDim),
                g.Node("Concat", [batch, g.Int64s("minus_one", -1)], OnnxAttribute.Int("axis", 0))]);
            var added = g.Node("Concat", [textEmbeds, timeEmbeds], OnnxAttribute.Int("axis", -1));
            embedding = g.Node("Add", [embedding, TimestepMlp(b, "add_embedding", added, config.ProjectionClassEmbeddingsInputDim, config.TimeEmbedDim)]);
        }

        // Every resnet projects silu(emb); computed once.
        var time = new TimeInput(b.Silu(embedding), config.TimeEmbedDim);
        var h = b.Conv("conv_in", sample, UNetConfig.LatentChannels, channels[0], 3);
        var skips = new Stack<(string Value, int Channels)>();
        skips.Push((h, channels[0]));
        var current = channels[0];
        for (var i = 0; i < channels.Length; i++)
        {
            var prefix = $"down_blocks.{i}";
            for (var layer = 0; layer < UNetConfig.LayersPerBlock; layer++)
            {
                h = Resnet(b, $"{prefix}.resnets.{layer}", h, current, channels[i], config.Groups, time);
                current = channels[i];
                if (config.CrossAttention[i])
                {
                    h = Transformer(b, $"{prefix}.attentions.{layer}", h, current, config.Heads[i], config.TransformerLayers[i], context, config);
                }

                skips.Push((h, current));
            }

            if (i < channels.Length - 1)
            {
                h = b.Conv($"{prefix}.downsamplers.0.conv", h, current, current, 3, stride: 2);
                skips.Push((h, current));
            }
        }

        var last = channels.Length - 1;
        h = Resnet(b, "mid_block.resnets.0", h, current, current, config.Groups, time);
        h = Transformer(b, "mid_block.attentions.0", h, current, config.Heads[last], config.TransformerLayers[last], context, config);
        h = Resnet(b, "mid_block.resnets.1", h, current, current, config.Groups, time);

        for (var i = 0; i < channels.Length; i++)
        {
            var block = last - i; // the down block this up block mirrors
            var prefix = $"up_blocks.{i}";
            for (var layer = 0; layer <= UNetConfig.LayersPerBlock; layer++)
            {
                var (skip, skipChannels) = skips.Pop();
                h = g.Node("Concat", [h, skip], OnnxAttribute.Int("axis", 1));
                h = Resnet(b, $"{prefix}.resnets.{layer}", h, current + skipChannels, channels[block], config.Groups, time);
                current = channels[block];
                if (config.CrossAttention[block])
                {
                    h = Transformer(b, $"{prefix}.attentions.{layer}", h, current, config.Heads[block], config.TransformerLayers[block], context, config);
                }
            }

            if (i < channels.Length - 1)
            {
                var upsampled = g.Node("Resize", [h, string.Empty, g.Constant("scales", [1f, 1f, 2f, 2f], 4)],
                    OnnxAttribute.String("mode", "nearest"),
                    OnnxAttribute.String("coordinate_transformation_mode", "asymmetric"),
                    OnnxAttribute.String("nearest_mode", "floor"));
                h = b.Conv($"{prefix}.upsamplers.0.conv", upsampled, current, current, 3);
            }
        }

        h = b.Silu(b.GroupNorm("conv_norm_out", h, current, config.Groups, ResnetEpsilon));
        h = b.Conv("conv_out", h, current, UNetConfig.LatentChannels, 3);
        g.Output(g.CastTo(h, b.Type, signature.Float), "out_sample", signature.Float, "batch", latentChannels, "height", "width");
    }

    /// <summary>
    /// diffusers' <c>Timesteps</c> with <c>flip_sin_to_cos</c> and no frequency shift: [cos, sin] of the value times
    /// <c>exp(-ln(10000) i / (dim / 2))</c>, computed in float32 and handed on in the compute type.
    /// </summary>
    private static string Sinusoids(LayerBuilder b, string values, int dim)
    {
        var g = b.Graph;
        var half = dim / 2;
        var frequencies = new float[half];
        for (var i = 0; i < half; i++)
        {
            frequencies[i] = (float)Math.Exp(-Math.Log(10000) * i / half);
        }

        var angles = g.Node("Mul", [g.Node("Unsqueeze", [values, g.Int64s("last_axis", -1)]), g.Constant("frequencies", frequencies, half)]);
        var embedded = g.Node("Concat", [g.Node("Cos", [angles]), g.Node("Sin", [angles])], OnnxAttribute.Int("axis", -1));
        return g.CastTo(embedded, DataType.Float, b.Type);
    }

    /// <summary><c>TimestepEmbedding</c>: linear_1, SiLU, linear_2.</summary>
    private static string TimestepMlp(LayerBuilder b, string name, string x, int inputs, int outputs) =>
        b.Linear($"{name}.linear_2", b.Silu(b.Linear($"{name}.linear_1", x, inputs, outputs)), outputs, outputs);

    /// <summary><c>ResnetBlock2D</c>: norm, SiLU, conv, + the time projection, norm, SiLU, conv, + the (1x1-projected) input.</summary>
    private static string Resnet(LayerBuilder b, string name, string x, int inputs, int outputs, int groups, TimeInput time)
    {
        var g = b.Graph;
        var h = b.Conv($"{name}.conv1", b.Silu(b.GroupNorm($"{name}.norm1", x, inputs, groups, ResnetEpsilon)), inputs, outputs, 3);
        var projected = b.Linear($"{name}.time_emb_proj", time.Activated, time.Channels, outputs);
        h = g.Node("Add", [h, g.Node("Unsqueeze", [projected, g.Int64s("spatial_axes", 2, 3)])]);
        h = b.Silu(b.GroupNorm($"{name}.norm2", h, outputs, groups, ResnetEpsilon));
        h = b.Conv($"{name}.conv2", h, outputs, outputs, 3, gain: LayerBuilder.ResidualGain);
        var shortcut = inputs == outputs ? x : b.Conv($"{name}.conv_shortcut", x, inputs, outputs, 1);
        return g.Node("Add", [shortcut, h]);
    }

    /// <summary>
    /// <c>Transformer2DModel</c>: group norm, proj_in (1x1 conv, or linear after flattening with
    /// <c>use_linear_projection</c>), <paramref name="depth"/> BasicTransformerBlocks, proj_out, + the input.
    /// </summary>
    private static string Transformer(LayerBuilder b, string name, string x, int channels, int heads, int depth, string context, UNetConfig config)
    {
        var g = b.Graph;
        var h = b.GroupNorm($"{name}.norm", x, channels, config.Groups, TransformerNormEpsilon);
        string Flatten(string value) => g.Node("Transpose", [g.Node("Reshape", [value, g.Int64s("flatten_shape", 0, 0, -1)])], OnnxAttribute.Ints("perm", 0, 2, 1));
        h = config.LinearProjection
            ? b.Linear($"{name}.proj_in", Flatten(h), channels, channels)
            : Flatten(b.Conv($"{name}.proj_in", h, channels, channels, 1));
        for (var i = 0; i < depth; i++)
        {
            h = TransformerBlock(b, $"{name}.transformer_blocks.{i}", h, channels, heads, context, config.CrossAttentionDim);
        }

        string Unflatten(string value) => g.Node("Reshape", [g.Node("Transpose", [value], OnnxAttribute.Ints("perm", 0, 2, 1)), g.Node("Shape", [x])]);
        h = config.LinearProjection
            ? Unflatten(b.Linear($"{name}.proj_out", h, channels, channels, gain: LayerBuilder.ResidualGain))
            : b.Conv($"{name}.proj_out", Unflatten(h), channels, channels, 1, gain: LayerBuilder.ResidualGain);
        return g.Node("Add", [h, x]);
    }

    /// <summary><c>BasicTransformerBlock</c>: self-attention, cross-attention on the text, GEGLU feed-forward, each pre-normed and residual.</summary>
    private static string TransformerBlock(LayerBuilder b, string name, string x, int channels, int heads, string context, int contextChannels)
    {
        var g = b.Graph;
        string[] Projections(string attention) => [$"{attention}.to_q", $"{attention}.to_k", $"{attention}.to_v", $"{attention}.to_out.0"];
        var h = g.Node("Add", [x, b.Attention(b.LayerNorm($"{name}.norm1", x, channels), null, channels, channels, heads, false, Projections($"{name}.attn1"))]);
        h = g.Node("Add", [h, b.Attention(b.LayerNorm($"{name}.norm2", h, channels), context, channels, contextChannels, heads, false, Projections($"{name}.attn2"))]);

        var inner = channels * 4;
        var projected = b.Linear($"{name}.ff.net.0.proj", b.LayerNorm($"{name}.norm3", h, channels), channels, inner * 2);
        var axis = g.Int64s("last_axis", -1);
        var hidden = g.Node("Slice", [projected, g.Int64s("start", 0), g.Int64s("end", inner), axis]);
        var gate = g.Node("Slice", [projected, g.Int64s("start", inner), g.Int64s("end", inner * 2), axis]);
        var feedForward = b.Linear($"{name}.ff.net.2", g.Node("Mul", [hidden, b.Gelu(gate)]), inner, channels, gain: LayerBuilder.ResidualGain);
        return g.Node("Add", [h, feedForward]);
    }

    private sealed record TimeInput(string Activated, int Channels);
}
