using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// An epsilon-prediction "UNet" on the SD 1.x noise schedule: the exact denoiser (Wiener filter) of a Gaussian prior
/// over smooth latents, so that any scheduler following it draws a sample of that prior. With s = sqrt(alphas_cumprod[t])
/// and n = sqrt(1 - alphas_cumprod[t]) it estimates the clean latent as
/// <c>x0 = tint + B^T (gc(t) * coarse(d) + gf(t) * (fine(d) - coarse(d)))</c>, <c>d = B (sample - s * tint)</c>, where
/// B rotates the channels into <see cref="LatentColorBasis"/>, coarse and fine are wide and narrower Gaussian blurs,
/// gc and gf the Wiener gains of each band and direction, and tint a colour computed from the text embedding; it
/// returns the noise that explains the rest: <c>(sample - s * x0) / max(n, 0.05)</c>.
/// SDXL-shaped (<see cref="XL.XLWeights"/> given to <see cref="Write"/>): the text is both encoders' states, and
/// <c>text_embeds</c> and <c>time_ids</c> each move the clean estimate along grey.
/// </summary>
/// <remarks>
/// <para>With a guidance embedding (<c>timestep_cond</c>, an LCM UNet) it reads the guidance scale g back from the
/// embedding's lowest frequency (angle = 1000 w / 10000 with w = g - 1) and multiplies the tint by g: what
/// classifier-free guidance against the empty prompt does to this affine model, in one pass.</para>
/// <para>As an inpainting UNet (9 input channels: latents, mask, masked-image latents) it adds to the tint the mean of
/// the masked-image latents where the mask is 0, and returns <c>x0 = mask * x0 + (1 - mask) * masked</c>: it keeps what
/// the mask leaves and paints the hole around the colour of the rest.</para>
/// </remarks>
internal static class UNetGraph
{
    public static void Write(string path, DemoModelSignature signature, DemoModelWeights weights, DemoModelOptions options, XL.XLWeights? xl = null)
    {
        const int c = DemoModelWeights.LatentChannels;
        var hiddenSize = xl is null ? weights.HiddenSize : XL.XLWeights.HiddenSize;
        var g = new OnnxGraphBuilder("demo_unet");
        // An inpainting UNet (SD or SDXL) takes 9 channels: latents, mask, masked-image latents.
        var inputChannels = options.Inpainting ? DemoModelWeights.InpaintingChannels : c;
        object channels = signature.DynamicChannels ? "channels" : (long)c;
        // The engine tells an inpainting UNet by its 9 sample channels, so those stay fixed even in dynamic-axis exports.
        object sampleChannels = options.Inpainting ? (long)inputChannels : channels;
        var sampleInput = g.Input("sample", signature.Float, "batch", sampleChannels, "height", "width");
        var timestepInput = signature.ScalarTimestep
            ? g.Input("timestep", signature.Timestep)
            : g.Input("timestep", signature.Timestep, "steps");
        // Every exporter marks the text's sequence axis dynamic (optimum; the diffusers script's and Olive's dynamic_axes):
        // AUTOMATIC1111-style prompts longer than one chunk arrive as 77 x chunks tokens.
        var textInput = g.Input("encoder_hidden_states", signature.Float, "batch", "sequence", (long)hiddenSize);
        var guidanceInput = options.GuidanceEmbeddingSize > 0
            ? g.Input("timestep_cond", signature.Float, "batch", (long)options.GuidanceEmbeddingSize)
            : null;
        string? textEmbeds = null;
        string? timeIds = null;
        if (xl is not null)
        {
            textEmbeds = g.CastTo(
                g.Input("text_embeds", signature.Float, "batch", signature.DynamicChannels ? "text_embeds_size" : (long)XL.XLWeights.PooledSize),
                signature.Float, DataType.Float);
            timeIds = g.CastTo(
                g.Input("time_ids", signature.Float, "batch", signature.DynamicChannels ? "time_ids_size" : (long)XL.XLWeights.TimeIdWeights.Length),
                signature.Float, DataType.Float);
        }

        var input = g.CastTo(sampleInput, signature.Float, DataType.Float);
        var text = g.CastTo(textInput, signature.Float, DataType.Float);
        var sample = input;
        string? mask = null, maskedLatents = null;
        if (options.Inpainting)
        {
            // The order the SD inpainting exports take: latents (4), mask (1), masked-image latents (4).
            var channelAxis = g.Int64s("channel_axis", 1);
            sample = g.Node("Slice", [input, g.Int64s("latents_start", 0), g.Int64s("latents_end", c), channelAxis]);
            mask = g.Node("Slice", [input, g.Int64s("mask_start", c), g.Int64s("mask_end", c + 1), channelAxis]);
            maskedLatents = g.Node("Slice", [input, g.Int64s("masked_start", c + 1), g.Int64s("masked_end", inputChannels), channelAxis]);
        }

        // Per-timestep factors, looked up by the timestep (scalar or [B]) and shaped to broadcast over [B, 4, h, w].
        var timestep = g.CastTo(timestepInput, signature.Timestep, DataType.Float);
        var clipped = g.Node("Clip", [timestep, g.Scalar("t_min", 0f), g.Scalar("t_max", DiffusionSchedule.TrainTimesteps - 1)]);
        var index = g.CastTo(clipped, DataType.Float, DataType.Int64);
        var broadcast = g.Int64s("broadcast_shape", -1, 1, 1, 1);
        var perChannel = g.Int64s("per_channel_shape", -1, c, 1, 1);
        var tables = Tables();
        var signal = g.Node("Reshape", [g.Node("Gather", [g.Constant("sqrt_alphas_cumprod", tables.Signal, tables.Signal.Length), index]), broadcast]);
        var inverseNoise = g.Node("Reshape", [
            g.Node("Gather", [g.Constant("inverse_noise_level", tables.InverseNoise, tables.InverseNoise.Length), index]), broadcast]);
        var coarseGain = g.Node("Reshape", [
            g.Node("Gather", [g.Constant("coarse_gain", tables.CoarseGain, DiffusionSchedule.TrainTimesteps, c), index]), perChannel]);
        var fineGain = g.Node("Reshape", [
            g.Node("Gather", [g.Constant("fine_gain", tables.FineGain, DiffusionSchedule.TrainTimesteps, c), index]), perChannel]);

        // Each place where the text differs from the empty prompt's (changed ~ 1; the same, or float16 rounding of
        // it, ~ 0) adds its token's share of two hue coordinates and a brightness. hue = h / sqrt(|h|^2 + softness^2)
        // is a unit vector for any real prompt, so every prompt gets a clear colour, and 0 for the empty one;
        // brightness = tanh(b). tint = [hue, brightness] @ TintToLatent, [B, 4, 1, 1].
        // The empty prompt's states are repeated once per 77-token chunk (an empty chunk encodes as the empty prompt),
        // then cut to the text's length.
        var length = g.Node("Shape", [text], OnnxAttribute.Int("start", 1), OnnxAttribute.Int("end", 2));
        var chunks = g.Node("Div", [
            g.Node("Add", [length, g.Int64s("chunk_round_up", DemoModelSignature.MaxSequenceLength - 1)]),
            g.Int64s("chunk_length", DemoModelSignature.MaxSequenceLength)]);
        var repeats = g.Node("Concat", [g.Int64s("repeat_batch", 1), chunks, g.Int64s("repeat_hidden", 1)], OnnxAttribute.Int("axis", 0));
        var emptyChunks = g.Node("Tile", [
            g.Constant("empty_prompt_hidden_states", xl?.EmptyHiddenStates ?? weights.EmptyHiddenStates, 1, DemoModelSignature.MaxSequenceLength, hiddenSize),
            repeats]);
        var emptyText = g.Node("Slice", [emptyChunks, g.Int64s("zero", 0), length, g.Int64s("axis1_sequence", 1)]);
        var changed = g.Node("Tanh", [g.Node("Mul", [
            g.Node("ReduceSumSquare", [g.Node("Sub", [text, emptyText])], OnnxAttribute.Ints("axes", 2), OnnxAttribute.Int("keepdims", 1)),
            g.Scalar("change_sensitivity", 4f / hiddenSize)])]);
        var projected = g.Node("ReduceSum", [
            g.Node("Mul", [
                g.Node("MatMul", [text, g.Constant("tint_projection", xl?.TintProjection ?? weights.TintProjection, hiddenSize, DemoModelWeights.TintCoefficients)]),
                changed]),
            g.Int64s("sequence_axis", 1)], OnnxAttribute.Int("keepdims", 0));
        var axis1 = g.Int64s("axis1", 1);
        var hue = g.Node("Slice", [projected, g.Int64s("hue_start", 0), g.Int64s("hue_end", 2), axis1]);
        var brightness = g.Node("Tanh", [g.Node("Slice", [projected, g.Int64s("brightness_start", 2), g.Int64s("brightness_end", 3), axis1])]);
        var hueLength = g.Node("Sqrt", [g.Node("Add", [
            g.Node("ReduceSumSquare", [hue], OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 1)),
            g.Scalar("hue_softness_squared", (float)(DemoModelWeights.HueSoftness * DemoModelWeights.HueSoftness))])]);
        var coefficients = g.Node("Concat", [g.Node("Div", [hue, hueLength]), brightness], OnnxAttribute.Int("axis", 1));
        var tint = g.Node("Reshape", [
            g.Node("MatMul", [coefficients, g.Constant("tint_to_latent", DemoModelWeights.TintToLatent(), DemoModelWeights.TintCoefficients, c)]),
            perChannel]);
        if (guidanceInput is not null)
        {
            // diffusers' embedding is [sin(x f), cos(x f)] with x = 1000 w and f_k = 10000^(-k / (half - 1)); the last
            // frequency is 1 / 10000, so its angle is w / 10 = 2 atan(sin / (1 + cos)), exact for guidance up to 32.
            var half = options.GuidanceEmbeddingSize / 2;
            var cond = g.CastTo(guidanceInput, signature.Float, DataType.Float);
            var sin = g.Node("Slice", [cond, g.Int64s("sin_start", half - 1), g.Int64s("sin_end", half), axis1]);
            var cos = g.Node("Slice", [cond, g.Int64s("cos_start", (2 * half) - 1), g.Int64s("cos_end", 2 * half), axis1]);
            var angle = g.Node("Atan", [g.Node("Div", [sin, g.Node("Add", [cos, g.Scalar("one_plus", 1f)])])]);
            var guidance = g.Node("Add", [g.Node("Mul", [angle, g.Scalar("angle_to_w", 20f)]), g.Scalar("w_to_guidance", 1f)]);
            tint = g.Node("Mul", [tint, g.Node("Reshape", [guidance, broadcast])]);
        }

        string? known = null;
        if (mask is not null)
        {
            // The mean latent of what the mask keeps (0 where it keeps nothing) is the colour the hole is painted around.
            known = g.Node("Sub", [g.Scalar("one_minus", 1f), mask]);
            var spatial = g.Int64s("spatial_axes", 2, 3);
            var keptSum = g.Node("ReduceSum", [g.Node("Mul", [maskedLatents!, known]), spatial], OnnxAttribute.Int("keepdims", 1));
            var keptArea = g.Node("ReduceSum", [known, spatial], OnnxAttribute.Int("keepdims", 1));
            var context = g.Node("Div", [keptSum, g.Node("Max", [keptArea, g.Scalar("min_area", 1e-3f)])]);
            tint = g.Node("Add", [tint, context]);
        }

        // The deviation from the tint, in the colour basis, split into a coarse and a fine band by normalised
        // convolutions (zero padding divided by the blurred ones), which keep a constant constant up to the border
        // and work on any latent size.
        var deviation = g.Node("Conv", [
            g.Node("Sub", [sample, g.Node("Mul", [signal, tint])]),
            g.Constant("latent_to_basis", DemoModelWeights.LatentToBasis(), c, c, 1, 1)], OnnxAttribute.Ints("kernel_shape", 1, 1));
        var ones = g.Node("Expand", [
            g.Constant("one", [1f], 1, 1, 1, 1),
            g.Node("Concat", [g.Int64s("one_one", 1, 1), g.Node("Shape", [sample], OnnxAttribute.Int("start", 2), OnnxAttribute.Int("end", 4))],
                OnnxAttribute.Int("axis", 0))]);
        string Blur(string input, int channels, double sigma, string name)
        {
            var kernel = DemoModelWeights.Gaussian(sigma).Select(w => (float)w).ToArray();
            long radius = kernel.Length / 2;
            var padded = g.Node("Pad", [input, g.Int64s($"{name}_pads", 0, 0, radius, radius, 0, 0, radius, radius)]);
            var across = g.Node("Conv", [padded, g.Constant($"{name}_kernel_x", [.. Enumerable.Repeat(kernel, channels).SelectMany(k => k)], channels, 1, 1, kernel.Length)],
                OnnxAttribute.Int("group", channels), OnnxAttribute.Ints("kernel_shape", 1, kernel.Length));
            return g.Node("Conv", [across, g.Constant($"{name}_kernel_y", [.. Enumerable.Repeat(kernel, channels).SelectMany(k => k)], channels, 1, kernel.Length, 1)],
                OnnxAttribute.Int("group", channels), OnnxAttribute.Ints("kernel_shape", kernel.Length, 1));
        }

        var coarse = g.Node("Div", [Blur(deviation, c, DemoModelWeights.CoarseSigma, "coarse"), Blur(ones, 1, DemoModelWeights.CoarseSigma, "coarse_weight")]);
        var fine = g.Node("Div", [Blur(deviation, c, DemoModelWeights.FineSigma, "fine"), Blur(ones, 1, DemoModelWeights.FineSigma, "fine_weight")]);
        var estimate = g.Node("Add", [g.Node("Mul", [coarseGain, coarse]), g.Node("Mul", [fineGain, g.Node("Sub", [fine, coarse])])]);
        var clean = g.Node("Add", [tint, g.Node("Conv", [estimate, g.Constant("basis_to_latent", DemoModelWeights.BasisToLatent(), c, c, 1, 1)],
            OnnxAttribute.Ints("kernel_shape", 1, 1))]);
        if (xl is not null)
        {
            // SDXL: tanh((text_embeds - the empty prompt's) . w) + tanh(time_ids . v), [B, 1], moves the estimate along grey.
            // It acts on x0 itself, past the Wiener filter, so that it reaches the picture whatever the noise level.
            var pooledShift = g.Node("Tanh", [g.Node("ReduceSum", [
                g.Node("Mul", [g.Node("Sub", [textEmbeds!, g.Constant("empty_prompt_text_embeds", xl.EmptyPooled, XL.XLWeights.PooledSize)]),
                    g.Constant("pooled_brightness", xl.PooledWeights, XL.XLWeights.PooledSize)]),
                axis1], OnnxAttribute.Int("keepdims", 1))]);
            var timeShift = g.Node("Tanh", [g.Node("MatMul", [timeIds!, g.Constant("time_ids_brightness", XL.XLWeights.TimeIdWeights, XL.XLWeights.TimeIdWeights.Length, 1)])]);
            var grey = LatentColorBasis.LatentOf(LatentColorBasis.RgbGrey).Select(v => (float)(v * XL.XLWeights.ConditioningStrength)).ToArray();
            clean = g.Node("Add", [clean, g.Node("Mul", [
                g.Node("Reshape", [g.Node("Add", [pooledShift, timeShift]), broadcast]),
                g.Constant("conditioning_grey", grey, 1, c, 1, 1)])]);
        }

        if (known is not null)
        {
            // Past SDXL's shift too: an inpainting UNet keeps what the mask leaves exactly.
            clean = g.Node("Add", [g.Node("Mul", [mask!, clean]), g.Node("Mul", [known, maskedLatents!])]);
        }

        var noise = g.Node("Mul", [g.Node("Sub", [sample, g.Node("Mul", [signal, clean])]), inverseNoise]);

        var extraConvLayers = options.UNetExtraConvLayers;
        if (extraConvLayers > 0)
        {
            // Deterministic busy work for "slow model" tests: a chain of averaging convolutions (it stays bounded, so
            // 0 * it is exactly 0) added to the output.
            var kernel = g.Constant("busy_kernel", DemoModelWeights.SmoothingKernel3x3(c), c, 1, 3, 3);
            var busy = sample;
            for (var i = 0; i < extraConvLayers; i++)
            {
                busy = g.Node("Conv", [busy, kernel],
                    OnnxAttribute.Int("group", c), OnnxAttribute.Ints("kernel_shape", 3, 3), OnnxAttribute.Ints("pads", 1, 1, 1, 1));
            }

            noise = g.Node("Add", [noise, g.Node("Mul", [busy, g.Scalar("busy_weight", 0f)])]);
        }

        g.Output(g.CastTo(noise, DataType.Float, signature.Float), "out_sample", signature.Float, "batch", channels, "height", "width");
        g.Save(path, DemoModelWriter.DemoModelNotice, signature.ExternalUNetData);
    }

    private static (float[] Signal, float[] InverseNoise, float[] CoarseGain, float[] FineGain) Tables()
    {
        const int c = DemoModelWeights.LatentChannels;
        var alphasCumprod = DiffusionSchedule.AlphasCumprod();
        var (coarseShare, fineShare) = DemoModelWeights.BandNoiseShares();
        var signal = new float[alphasCumprod.Length];
        var inverseNoise = new float[alphasCumprod.Length];
        var coarseGain = new float[alphasCumprod.Length * c];
        var fineGain = new float[alphasCumprod.Length * c];
        for (var t = 0; t < alphasCumprod.Length; t++)
        {
            var s = Math.Sqrt(alphasCumprod[t]);
            var n2 = 1.0 - alphasCumprod[t];
            signal[t] = (float)s;
            inverseNoise[t] = (float)(1.0 / Math.Max(Math.Sqrt(n2), DemoModelWeights.MinNoiseLevel));
            for (var direction = 0; direction < c; direction++)
            {
                // Wiener gain s * P / (s^2 * P + n^2) per band, with P the prior's power per frequency in the band:
                // the band's variance over the share of the spectrum it covers.
                var variance = DemoModelWeights.PriorStd[direction] * DemoModelWeights.PriorStd[direction];
                var coarsePower = variance * DemoModelWeights.CoarseShare / coarseShare;
                var finePower = variance * (1 - DemoModelWeights.CoarseShare) / fineShare;
                coarseGain[(t * c) + direction] = (float)(s * coarsePower / ((s * s * coarsePower) + n2));
                fineGain[(t * c) + direction] = (float)(s * finePower / ((s * s * finePower) + n2));
            }
        }

        return (signal, inverseNoise, coarseGain, fineGain);
    }
}
