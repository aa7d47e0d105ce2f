using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Numerics;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

public sealed class DemoModelInferenceTests(DemoModelFolders folders) : IClassFixture<DemoModelFolders>
{
    private const double ScalingFactor = 0.18215;

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Text_encoder_gives_finite_embeddings_that_differ_between_prompts(DemoModelFlavor flavor)
    {
        using var textEncoder = new DemoModelSession(folders.ModelOf(flavor, "text_encoder"));

        var outputs = textEncoder.Run(("input_ids", DemoPrompts.Batch(DemoPrompts.ACat, DemoPrompts.ALighthouseAtDusk), [2, 77]));

        var hidden = outputs["last_hidden_state"];
        var pooled = outputs["pooler_output"];
        Assert.Equal([2, 77, 768], hidden.Shape);
        Assert.Equal([2, 768], pooled.Shape);
        Assert.True(hidden.AllFinite && pooled.AllFinite);
        Assert.True(MeanAbsoluteDifference(hidden.Data.AsSpan(0, 77 * 768), hidden.Data.AsSpan(77 * 768)) > 0.01);
        Assert.True(MeanAbsoluteDifference(pooled.Data.AsSpan(0, 768), pooled.Data.AsSpan(768)) > 0.005);
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Unet_predicts_finite_noise_shaped_like_the_sample(DemoModelFlavor flavor)
    {
        using var unet = new DemoModelSession(folders.ModelOf(flavor, "unet"));
        var sample = Noise(2 * 4 * 8 * 8, seed: 1);

        var noise = unet.Run(
            ("sample", sample, [2, 4, 8, 8]),
            Timestep(unet, 500, batch: 2),
            ("encoder_hidden_states", Noise(2 * 77 * 768, seed: 2), [2, 77, 768]))["out_sample"];

        Assert.Equal([2, 4, 8, 8], noise.Shape);
        Assert.True(noise.AllFinite);
        Assert.InRange(StandardDeviation(noise.Data), 0.2, 5.0);

        // Pipelines pass one timestep for the whole guidance batch; it broadcasts.
        var shared = unet.Run(
            ("sample", sample, [2, 4, 8, 8]),
            Timestep(unet, 500, batch: 1),
            ("encoder_hidden_states", Noise(2 * 77 * 768, seed: 2), [2, 77, 768]))["out_sample"];
        Assert.Equal(noise.Data, shared.Data);
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Vae_decoder_turns_latents_into_an_image_eight_times_larger_within_minus_one_to_one(DemoModelFlavor flavor)
    {
        using var decoder = new DemoModelSession(folders.ModelOf(flavor, "vae_decoder"));
        var latents = Noise(2 * 4 * 8 * 8, seed: 3).Select(v => v / ScalingFactor).ToArray();

        var image = decoder.Run(("latent_sample", latents, [2, 4, 8, 8]))["sample"];

        Assert.Equal([2, 3, 64, 64], image.Shape);
        Assert.True(image.AllFinite);
        Assert.All(image.Data, v => Assert.InRange(v, -1f, 1f));
        Assert.True(StandardDeviation(image.Data) > 0.05, "the latents' colours show");
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Vae_encoder_gives_latents_an_eighth_of_the_image_size(DemoModelFlavor flavor)
    {
        using var encoder = new DemoModelSession(folders.ModelOf(flavor, "vae_encoder"));
        var parameters = flavor is DemoModelFlavor.Optimum or DemoModelFlavor.OptimumFp16;
        var name = parameters ? "latent_parameters" : "latent_sample";

        var latents = encoder.Run(("sample", SmoothImage(batch: 2), [2, 3, 64, 64]))[name];

        Assert.Equal([2, parameters ? 8 : 4, 8, 8], latents.Shape);
        Assert.True(latents.AllFinite);
        if (parameters)
        {
            // Channels 4..7 are the log-variance: small enough that sampling is practically the mean.
            Assert.All(Channels(latents, 4, 8), v => Assert.Equal(-10f, v));
        }
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Decoding_the_encoded_smooth_image_gives_it_back(DemoModelFlavor flavor)
    {
        using var encoder = new DemoModelSession(folders.ModelOf(flavor, "vae_encoder"));
        using var decoder = new DemoModelSession(folders.ModelOf(flavor, "vae_decoder"));
        var image = SmoothImage(batch: 1);

        var encoded = encoder.Run(("sample", image, [1, 3, 64, 64])).Values.Single();
        var mean = Channels(encoded, 0, 4).Select(v => (double)v).ToArray();
        var decoded = decoder.Run(("latent_sample", mean, [1, 4, 8, 8]))["sample"];

        var error = MeanAbsoluteDifference(image.Select(v => (float)v).ToArray(), decoded.Data);
        Assert.True(error < 0.03, $"mean absolute error {error:F4}");
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Denoising_with_the_predicted_noise_turns_random_latents_into_smooth_ones(DemoModelFlavor flavor)
    {
        var start = Noise(4 * 16 * 16, seed: 7);

        var latents = Denoise(flavor, start, DemoPrompts.ACat, guidance: 1.0, steps: 20);

        var before = Roughness(start, 16);
        var after = Roughness(latents, 16);
        Assert.True(after < 0.5 * before, $"neighbour differences per standard deviation went from {before:F3} to {after:F3}");
        Assert.InRange(StandardDeviation(latents), 0.2, 3.0);
    }

    [Theory]
    [MemberData(nameof(DemoModelFolders.Flavors), MemberType = typeof(DemoModelFolders))]
    public void Unet_takes_text_of_several_chunks_and_an_empty_chunk_adds_no_tint(DemoModelFlavor flavor)
    {
        using var textEncoder = new DemoModelSession(folders.ModelOf(flavor, "text_encoder"));
        using var unet = new DemoModelSession(folders.ModelOf(flavor, "unet"));
        var text = textEncoder.Run(("input_ids", DemoPrompts.Batch(DemoPrompts.Empty, DemoPrompts.ACat), [2, 77]))["last_hidden_state"].Data;
        var empty = text.AsSpan(0, 77 * 768).ToArray();
        var cat = text.AsSpan(77 * 768).ToArray();
        var sample = Noise(2 * 4 * 8 * 8, seed: 7);

        // [empty | empty] and [cat | empty], 154 tokens each, against the one-chunk [empty] and [cat].
        var twoChunks = unet.Run(
            ("sample", sample, [2, 4, 8, 8]),
            Timestep(unet, 600, batch: 2),
            ("encoder_hidden_states", [.. empty, .. empty, .. cat, .. empty], [2, 154, 768]))["out_sample"];
        var oneChunk = unet.Run(
            ("sample", sample, [2, 4, 8, 8]),
            Timestep(unet, 600, batch: 2),
            ("encoder_hidden_states", [.. empty, .. cat], [2, 77, 768]))["out_sample"];

        Assert.Equal([2, 4, 8, 8], twoChunks.Shape);
        var tolerance = flavor == DemoModelFlavor.OliveFp16 ? 2e-2 : 1e-4;
        for (var i = 0; i < oneChunk.Data.Length; i++)
        {
            Assert.True(Math.Abs(oneChunk.Data[i] - twoChunks.Data[i]) <= tolerance, $"element {i}: {oneChunk.Data[i]} vs {twoChunks.Data[i]}");
        }

        // The second chunk is read: a prompt there tints as it does in the first.
        var catSecond = unet.Run(
            ("sample", sample.AsSpan(0, 4 * 8 * 8).ToArray(), [1, 4, 8, 8]),
            Timestep(unet, 600, batch: 1),
            ("encoder_hidden_states", [.. empty, .. cat], [1, 154, 768]))["out_sample"];
        Assert.True(MeanAbsoluteDifference(catSecond.Data, twoChunks.Data.AsSpan(0, 4 * 8 * 8)) > 0.01);
    }

    [Fact]
    public void The_empty_prompt_adds_no_tint_and_a_prompt_does()
    {
        using var textEncoder = new DemoModelSession(folders.ModelOf(DemoModelFlavor.Optimum, "text_encoder"));
        using var unet = new DemoModelSession(folders.ModelOf(DemoModelFlavor.Optimum, "unet"));
        var text = textEncoder.Run(("input_ids", DemoPrompts.Batch(DemoPrompts.Empty, DemoPrompts.ACat), [2, 77]))["last_hidden_state"];

        // On zero latents the clean latents the UNet implies, -sqrt(1 - acp) * noise / sqrt(acp), are the tint
        // (shrunk a little by the smoothing's gain).
        var noise = unet.Run(
            ("sample", new double[2 * 4 * 4 * 4], [2, 4, 4, 4]),
            Timestep(unet, 981, batch: 2),
            ("encoder_hidden_states", [.. text.Data.Select(v => (double)v)], [2, 77, 768]))["out_sample"];
        var alpha = AlphasCumprod()[981];
        var clean = noise.Data.Select(v => -Math.Sqrt(1 - alpha) * v / Math.Sqrt(alpha)).ToArray();

        Assert.All(clean.AsSpan(0, 64).ToArray(), v => Assert.InRange(v, -1e-3, 1e-3));
        Assert.True(clean.AsSpan(64).ToArray().Average(Math.Abs) > 0.05, "a prompt tints the latents");
    }

    [Fact]
    public void Guidance_seven_and_a_half_gives_a_tinted_but_sane_image()
    {
        var start = Noise(4 * 16 * 16, seed: 11);
        var tinted = Denoise(DemoModelFlavor.Optimum, start, DemoPrompts.ALighthouseAtDusk, guidance: 7.5, steps: 20);
        var plain = Denoise(DemoModelFlavor.Optimum, start, DemoPrompts.Empty, guidance: 7.5, steps: 20);

        using var decoder = new DemoModelSession(folders.ModelOf(DemoModelFlavor.Optimum, "vae_decoder"));
        float[] Decode(double[] latents) =>
            decoder.Run(("latent_sample", [.. latents.Select(v => v / ScalingFactor)], [1, 4, 16, 16]))["sample"].Data;
        var tintedImage = Decode(tinted);
        var plainImage = Decode(plain);

        Assert.All(tinted, v => Assert.InRange(v, -5.0, 5.0));
        var saturated = tintedImage.Count(v => Math.Abs(v) >= 0.999f) / (double)tintedImage.Length;
        Assert.True(saturated < 0.05, $"{saturated:P1} of the pixels are clipped");
        var shift = Enumerable.Range(0, 3).Max(c => Math.Abs(ChannelMean(tintedImage, c) - ChannelMean(plainImage, c)));
        Assert.True(shift > 0.05, $"the prompt shifts the mean colour by {shift:F3}");
    }

    [Fact]
    public void Extra_unet_conv_layers_leave_the_prediction_unchanged()
    {
        using var directory = new TemporaryDirectory();
        DemoModelWriter.Write(directory.Path, new DemoModelOptions { UNetExtraConvLayers = 8 });
        using var plain = new DemoModelSession(folders.ModelOf(DemoModelFlavor.Optimum, "unet"));
        using var slow = new DemoModelSession(directory.Combine("unet", "model.onnx"));
        (string, double[], long[])[] Inputs(DemoModelSession unet) =>
        [
            ("sample", Noise(4 * 8 * 8, seed: 5), [1, 4, 8, 8]),
            Timestep(unet, 700, batch: 1),
            ("encoder_hidden_states", Noise(77 * 768, seed: 6), [1, 77, 768]),
        ];

        var expected = plain.Run(Inputs(plain))["out_sample"].Data;
        var actual = slow.Run(Inputs(slow))["out_sample"].Data;

        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// Deterministic DDIM (eta 0) on the SD 1.x schedule with classifier-free guidance, written out here so the test
    /// does not depend on the engine's schedulers. Returns the clean latents predicted at the last step.
    /// </summary>
    private double[] Denoise(DemoModelFlavor flavor, double[] start, double[] prompt, double guidance, int steps)
    {
        using var textEncoder = new DemoModelSession(folders.ModelOf(flavor, "text_encoder"));
        using var unet = new DemoModelSession(folders.ModelOf(flavor, "unet"));
        var text = textEncoder.Run(("input_ids", DemoPrompts.Batch(DemoPrompts.Empty, prompt), [2, 77]))["last_hidden_state"];
        var textInput = text.Data.Select(v => (double)v).ToArray();
        var alphasCumprod = AlphasCumprod();
        var size = start.Length;
        var x = (double[])start.Clone();
        var clean = new double[size];
        var stride = 1000 / steps;
        for (var t = ((steps - 1) * stride) + 1; t >= 1; t -= stride)
        {
            var noise = unet.Run(
                ("sample", [.. x, .. x], [2, 4, 16, 16]),
                Timestep(unet, t, batch: 2),
                ("encoder_hidden_states", textInput, [2, 77, 768]))["out_sample"].Data;
            var alpha = alphasCumprod[t];
            var previous = t - stride >= 0 ? alphasCumprod[t - stride] : alphasCumprod[0];
            for (var i = 0; i < size; i++)
            {
                var eps = noise[i] + (guidance * (noise[size + i] - noise[i]));
                clean[i] = (x[i] - (Math.Sqrt(1 - alpha) * eps)) / Math.Sqrt(alpha);
                x[i] = (Math.Sqrt(previous) * clean[i]) + (Math.Sqrt(1 - previous) * eps);
            }
        }

        return clean;
    }

    private static (string, double[], long[]) Timestep(DemoModelSession unet, int t, int batch) =>
        unet.Inputs["timestep"].Dimensions.Length == 0
            ? ("timestep", [t], [])
            : ("timestep", [.. Enumerable.Repeat((double)t, batch)], [batch]);

    private static double[] AlphasCumprod()
    {
        var result = new double[1000];
        double start = Math.Sqrt(0.00085), end = Math.Sqrt(0.012), product = 1;
        for (var t = 0; t < 1000; t++)
        {
            var beta = Math.Pow(start + ((end - start) * t / 999), 2);
            product *= 1 - beta;
            result[t] = product;
        }

        return result;
    }

    private static double[] Noise(int length, long seed)
    {
        var values = new float[length];
        new NoiseGenerator(seed).FillNormal(values);
        return [.. values.Select(v => (double)v)];
    }

    /// <summary>Three smooth colour waves, [batch, 3, 64, 64] in [-0.6, 0.6].</summary>
    private static double[] SmoothImage(int batch)
    {
        var image = new double[batch * 3 * 64 * 64];
        for (var b = 0; b < batch; b++)
        {
            for (var y = 0; y < 64; y++)
            {
                for (var x = 0; x < 64; x++)
                {
                    var offset = (b * 3 * 4096) + (y * 64) + x;
                    image[offset] = 0.5 * Math.Sin(2 * Math.PI * (x + (8 * b)) / 128);
                    image[offset + 4096] = 0.4 * Math.Cos(2 * Math.PI * y / 128);
                    image[offset + 8192] = (0.6 * (x + y) / 126) - 0.3;
                }
            }
        }

        return image;
    }

    /// <summary>Channels [from, to) of the first batch item.</summary>
    private static float[] Channels(TensorResult tensor, int from, int to)
    {
        var plane = (int)(tensor.Shape[2] * tensor.Shape[3]);
        return tensor.Data.AsSpan(from * plane, (to - from) * plane).ToArray();
    }

    private static double ChannelMean(float[] image, int channel) => image.AsSpan(channel * 4096 * 4, 4096 * 4).ToArray().Average();

    /// <summary>Mean absolute difference of horizontal neighbours over the standard deviation, per 4 x size x size latent.</summary>
    private static double Roughness(double[] latents, int size)
    {
        var sum = 0.0;
        for (var row = 0; row < latents.Length / size; row++)
        {
            for (var x = 0; x + 1 < size; x++)
            {
                sum += Math.Abs(latents[(row * size) + x + 1] - latents[(row * size) + x]);
            }
        }

        return sum / (latents.Length / size * (size - 1)) / StandardDeviation(latents);
    }

    private static double StandardDeviation(IReadOnlyCollection<double> values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
    }

    private static double StandardDeviation(float[] values) => StandardDeviation([.. values.Select(v => (double)v)]);

    private static double MeanAbsoluteDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += Math.Abs(a[i] - b[i]);
        }

        return sum / a.Length;
    }
}
