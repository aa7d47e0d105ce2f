using OrleansDiffusion.DemoModel.Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// An epsilon-prediction "UNet" on the SD 1.x noise schedule. With s = sqrt(alphas_cumprod[t]) and
/// n = sqrt(1 - alphas_cumprod[t]), it estimates the clean latent as
/// <c>x0 = tint + gain(t) * blur(sample - s * tint)</c>, where tint is a colour computed from the text embedding and
/// gain is the Wiener gain for a smooth latent seen through the noise, and returns the noise that explains the rest:
/// <c>(sample - s * x0) / max(n, 0.05)</c>. A scheduler that follows it ends at a smooth, prompt-tinted latent.
/// </summary>
internal static class UNetGraph
{
    public static void Write(string path, DemoModelSignature signature, DemoModelWeights weights, int extraConvLayers)
    {
        const int c = DemoModelWeights.LatentChannels;
        var g = new OnnxGraphBuilder("demo_unet");
        var sampleInput = g.Input("sample", signature.Float, "batch", (long)c, "height", "width");
        var timestepInput = signature.ScalarTimestep
            ? g.Input("timestep", signature.Timestep)
            : g.Input("timestep", signature.Timestep, "steps");
        var textInput = g.Input("encoder_hidden_states", signature.Float, "batch", signature.SequenceLength, (long)weights.HiddenSize);

        var sample = g.CastTo(sampleInput, signature.Float, DataType.Float);
        var text = g.CastTo(textInput, signature.Float, DataType.Float);

        // Per-timestep factors, looked up by the timestep (scalar or [B]) and shaped to broadcast over [B, 4, h, w].
        var timestep = g.CastTo(timestepInput, signature.Timestep, DataType.Float);
        var clipped = g.Node("Clip", [timestep, g.Scalar("t_min", 0f), g.Scalar("t_max", DiffusionSchedule.TrainTimesteps - 1)]);
        var index = g.CastTo(clipped, DataType.Float, DataType.Int64);
        var broadcast = g.Int64s("broadcast_shape", -1, 1, 1, 1);
        var (signalTable, gainTable, inverseNoiseTable) = Tables();
        string Lookup(string table) => g.Node("Reshape", [g.Node("Gather", [table, index]), broadcast]);
        var signal = Lookup(g.Constant("sqrt_alphas_cumprod", signalTable, signalTable.Length));
        var gain = Lookup(g.Constant("smooth_gain", gainTable, gainTable.Length));
        var inverseNoise = Lookup(g.Constant("inverse_noise_level", inverseNoiseTable, inverseNoiseTable.Length));

        // tint = amplitude * tanh(mean_over_sequence(text) @ W + b), [B, 4, 1, 1]; the bias makes the empty prompt's tint 0.
        var meanText = g.Node("ReduceMean", [text], OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 0));
        var projected = g.Node("Add", [
            g.Node("MatMul", [meanText, g.Constant("tint_projection", weights.TintProjection, weights.HiddenSize, c)]),
            g.Constant("tint_bias", weights.TintBias, c)]);
        var tint = g.Node("Reshape", [
            g.Node("Mul", [g.Node("Tanh", [projected]), g.Scalar("tint_amplitude", DemoModelWeights.TintAmplitude)]),
            g.Int64s("tint_shape", -1, c, 1, 1)]);

        // x0 = tint + gain * blur(sample - s * tint); the blur pads by repeating the edge so borders keep their level.
        var deviation = g.Node("Sub", [sample, g.Node("Mul", [signal, tint])]);
        var padded = g.Node("Pad", [deviation, g.Int64s("pads_2", 0, 0, 2, 2, 0, 0, 2, 2)], OnnxAttribute.String("mode", "edge"));
        var blurred = g.Node("Conv", [padded, g.Constant("smoothing_kernel", DemoModelWeights.SmoothingKernel5x5(c), c, 1, 5, 5)],
            OnnxAttribute.Int("group", c), OnnxAttribute.Ints("kernel_shape", 5, 5));
        var clean = g.Node("Add", [tint, g.Node("Mul", [gain, blurred])]);
        var noise = g.Node("Mul", [g.Node("Sub", [sample, g.Node("Mul", [signal, clean])]), inverseNoise]);

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

        g.Output(g.CastTo(noise, DataType.Float, signature.Float), "out_sample", signature.Float, "batch", (long)c, "height", "width");
        g.Save(path, DemoModelWriter.DemoModelNotice);
    }

    private static (float[] Signal, float[] Gain, float[] InverseNoise) Tables()
    {
        var alphasCumprod = DiffusionSchedule.AlphasCumprod();
        var noiseReduction = DemoModelWeights.SmoothingNoiseReduction();
        const double v = DemoModelWeights.SmoothPriorVariance;
        var signal = new float[alphasCumprod.Length];
        var gain = new float[alphasCumprod.Length];
        var inverseNoise = new float[alphasCumprod.Length];
        for (var t = 0; t < alphasCumprod.Length; t++)
        {
            var s = Math.Sqrt(alphasCumprod[t]);
            var n2 = 1.0 - alphasCumprod[t];
            signal[t] = (float)s;

            // Wiener gain for a smooth component of variance v seen as s * x0 plus blurred noise of variance n2 * k:
            // about 1 / s at low noise (low frequencies pass), unit-ish output magnitude at high noise.
            gain[t] = (float)(s * v / ((s * s * v) + (n2 * noiseReduction)));
            inverseNoise[t] = (float)(1.0 / Math.Max(Math.Sqrt(n2), DemoModelWeights.MinNoiseLevel));
        }

        return (signal, gain, inverseNoise);
    }
}
