using OrleansDiffusion.DemoModel.Clip;

namespace OrleansDiffusion.DemoModel;

/// <summary>
/// Every weight of the four demo models: pseudo-random where any value does, built where a person should see the
/// effect (the noise schedule, the colours, the VAE round trip, the tint of the empty prompt).
/// </summary>
internal sealed class DemoModelWeights
{
    /// <summary>Width of the token embedding table; small so the table stays about 1.5 MB.</summary>
    public const int TokenEmbeddingSize = 8;

    public const int LatentChannels = 4;

    /// <summary>An inpainting UNet's input: the latents, the mask and the masked image's latents.</summary>
    public const int InpaintingChannels = (2 * LatentChannels) + 1;
    public const float VaeScalingFactor = 0.18215f;
    public const int BosTokenId = 49406;
    public const int EosTokenId = 49407;

    /// <summary>
    /// RGB saturation of a prompt's hue (the length of its chroma; the text sets only the angle): visible at guidance 1,
    /// and guidance 7.5, which multiplies it by 7.5, makes it the picture's dominant colour without clipping.
    /// </summary>
    public const double HueAmplitude = 0.1;

    /// <summary>Largest RGB brightness offset a prompt adds.</summary>
    public const double LumaAmplitude = 0.05;

    /// <summary>Below this length of the hue pre-activation the tint fades to 0, so the empty prompt stays neutral.</summary>
    public const double HueSoftness = 0.2;

    /// <summary>Log-variance the VAE encoder reports: sampling from it is practically the mean.</summary>
    public const float EncoderLogVariance = -10f;

    /// <summary>
    /// Prior standard deviations of a clean latent along <see cref="LatentColorBasis"/>: mostly light and shade, a
    /// little hue, so that the prompt's tint sets the dominant colour; the invisible direction only keeps the
    /// predicted noise of a plausible size.
    /// </summary>
    public static readonly double[] PriorStd = [0.9, 0.25, 0.25, 0.5];

    /// <summary>
    /// Gaussian widths (in latent pixels) of the two smoothing bands: large blobs (about a fifth of a 64 x 64 latent
    /// across) and finer detail inside them; anything finer than the second is noise.
    /// </summary>
    public const double CoarseSigma = 5.0;

    /// <summary>See <see cref="CoarseSigma"/>.</summary>
    public const double FineSigma = 2.0;

    /// <summary>Share of a clean latent's variance in the coarse band; the rest is in the fine band.</summary>
    public const double CoarseShare = 0.8;

    /// <summary>Lower bound of sqrt(1 - alphas_cumprod) when the UNet divides by it, so t near 0 stays tame.</summary>
    public const double MinNoiseLevel = 0.05;

    /// <summary>
    /// Latent channel to RGB, rows R, G, B (the linear approximation of the SD 1.x VAE decoder commonly used for
    /// previews): each latent channel has its own colour.
    /// </summary>
    public static readonly float[] LatentToRgb =
    [
        0.298f, 0.187f, -0.158f, -0.184f,
        0.207f, 0.286f, 0.189f, -0.271f,
        0.208f, 0.173f, 0.264f, -0.473f,
    ];

    // Scales the tint projection so that one prompt token moves the tint's pre-activation by about 1.
    private const double TintSensitivity = 1.5;

    /// <summary>CLIP's <c>layer_norm_eps</c>, the final layer norm's epsilon.</summary>
    public const double LayerNormEpsilon = 1e-5;

    /// <param name="hiddenSize">The text encoder's width.</param>
    /// <param name="seed">The seed of every pseudo-random tensor.</param>
    /// <param name="textEncoderLayers">The text encoder's layers (0: one <c>Tanh</c>).</param>
    /// <param name="component">
    /// The text encoder's folder, which keys its random tensors: SDXL's <c>text_encoder_2</c> gets weights of its own.
    /// </param>
    public DemoModelWeights(int hiddenSize, int seed, int textEncoderLayers = 0, string component = "text_encoder")
    {
        HiddenSize = hiddenSize;
        TextEncoderLayers = textEncoderLayers;
        LayerScale = [.. Enumerable.Range(1, textEncoderLayers).Select(i => new DeterministicRandom(seed, $"{component}.layer{i}.scale").Uniform(hiddenSize, 0.6))];
        LayerShift = [.. Enumerable.Range(1, textEncoderLayers).Select(i => new DeterministicRandom(seed, $"{component}.layer{i}.shift").Uniform(hiddenSize, 0.3))];
        FinalNormScale = [.. new DeterministicRandom(seed, $"{component}.final_layer_norm.weight").Uniform(hiddenSize, 0.25).Select(v => 1f + v)];
        FinalNormBias = new DeterministicRandom(seed, $"{component}.final_layer_norm.bias").Uniform(hiddenSize, 0.1);
        TokenEmbedding = new DeterministicRandom(seed, $"{component}.token_embedding")
            .Uniform(ClipVocabularyFiles.VocabularySize * TokenEmbeddingSize, 1.0);
        PositionEmbedding = new DeterministicRandom(seed, $"{component}.position_embedding")
            .Uniform(DemoModelSignature.MaxSequenceLength * TokenEmbeddingSize, 0.5);
        TextProjection = new DeterministicRandom(seed, $"{component}.projection")
            .Uniform(TokenEmbeddingSize * hiddenSize, 1.0 / Math.Sqrt(TokenEmbeddingSize));
        TintProjection = new DeterministicRandom(seed, "unet.tint_projection")
            .Uniform(hiddenSize * TintCoefficients, TintSensitivity / Math.Sqrt(hiddenSize));

        // The empty prompt (BOS then EOS padding, as CLIP pads) is what the UNet compares the text with: only the
        // places where a prompt differs from it set the tint, so the empty prompt gets none and classifier-free
        // guidance amplifies only what the prompt's own tokens add.
        var empty = new int[DemoModelSignature.MaxSequenceLength];
        Array.Fill(empty, EosTokenId);
        empty[0] = BosTokenId;
        EmptyHiddenStates = HiddenStates(empty);
    }

    public int HiddenSize { get; }

    /// <summary>Residual layers of the text encoder; 0 for the single <c>Tanh</c> of the default demo model.</summary>
    public int TextEncoderLayers { get; }

    /// <summary>Per layer, [hidden]: layer i computes <c>h + tanh(h * scale + shift)</c>.</summary>
    public float[][] LayerScale { get; }

    /// <summary>Per layer, [hidden]; see <see cref="LayerScale"/>.</summary>
    public float[][] LayerShift { get; }

    /// <summary>[hidden]: the final layer norm's scale (CLIP's <c>final_layer_norm.weight</c>), used with layers only.</summary>
    public float[] FinalNormScale { get; }

    /// <summary>[hidden]: the final layer norm's bias.</summary>
    public float[] FinalNormBias { get; }

    /// <summary>[49408, 8].</summary>
    public float[] TokenEmbedding { get; }

    /// <summary>[77, 8], added to the token embeddings so that the same token at another place differs.</summary>
    public float[] PositionEmbedding { get; }

    /// <summary>[8, hidden].</summary>
    public float[] TextProjection { get; }

    /// <summary>Coefficients the text sets: two hue coordinates and a brightness.</summary>
    public const int TintCoefficients = 3;

    /// <summary>[hidden, 3]: a token's hidden state to its share of the hue coordinates and the brightness.</summary>
    public float[] TintProjection { get; }

    /// <summary>[77, hidden]: the text encoder's last_hidden_state for the empty prompt.</summary>
    public float[] EmptyHiddenStates { get; }

    /// <summary>
    /// [3, 4]: the unit hue vector and the tanh of the brightness to the latent that decodes to that colour offset
    /// (a point on the RGB colour wheel of radius <see cref="HueAmplitude"/>, plus grey).
    /// </summary>
    public static float[] TintToLatent()
    {
        double[][] rows =
        [
            [.. LatentColorBasis.LatentOf(LatentColorBasis.RgbChromaAxes[0]).Select(v => v * HueAmplitude)],
            [.. LatentColorBasis.LatentOf(LatentColorBasis.RgbChromaAxes[1]).Select(v => v * HueAmplitude)],
            [.. LatentColorBasis.LatentOf(LatentColorBasis.RgbGrey).Select(v => v * LumaAmplitude)],
        ];
        return [.. rows.SelectMany(row => row.Select(v => (float)v))];
    }

    /// <summary>[4, 4] 1x1 convolution weights from latent channels to <see cref="LatentColorBasis"/> coordinates.</summary>
    public static float[] LatentToBasis() => [.. LatentColorBasis.Directions().SelectMany(d => d.Select(v => (float)v))];

    /// <summary>[4, 4] 1x1 convolution weights back from <see cref="LatentColorBasis"/> coordinates to latent channels.</summary>
    public static float[] BasisToLatent()
    {
        var directions = LatentColorBasis.Directions();
        var weights = new float[LatentChannels * LatentChannels];
        for (var channel = 0; channel < LatentChannels; channel++)
        {
            for (var direction = 0; direction < LatentChannels; direction++)
            {
                weights[(channel * LatentChannels) + direction] = (float)directions[direction][channel];
            }
        }

        return weights;
    }

    /// <summary>
    /// RGB to unscaled latents, [4, 3]: the pseudo-inverse of <see cref="LatentToRgb"/> divided by the scaling factor,
    /// so that decode(encode(image)) gives the image back where it is smooth.
    /// </summary>
    public static float[] RgbToUnscaledLatent(float scalingFactor = VaeScalingFactor)
    {
        var toLatent = RgbToLatent();
        var result = new float[4 * 3];
        for (var l = 0; l < 4; l++)
        {
            for (var c = 0; c < 3; c++)
            {
                result[(l * 3) + c] = (float)(toLatent[l, c] / scalingFactor);
            }
        }

        return result;
    }

    /// <summary>The pseudo-inverse of <see cref="LatentToRgb"/>, [4, 3]: RGB to the smallest latent that decodes to it.</summary>
    public static double[,] RgbToLatent()
    {
        // pinv(A) = A^T (A A^T)^-1 for the 3x4 matrix A of full row rank.
        var a = new double[3, 4];
        for (var r = 0; r < 3; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                a[r, c] = LatentToRgb[(r * 4) + c];
            }
        }

        var gram = new double[3, 3];
        for (var i = 0; i < 3; i++)
        {
            for (var j = 0; j < 3; j++)
            {
                for (var k = 0; k < 4; k++)
                {
                    gram[i, j] += a[i, k] * a[j, k];
                }
            }
        }

        var inverse = Invert3x3(gram);
        var result = new double[4, 3];
        for (var l = 0; l < 4; l++)
        {
            for (var c = 0; c < 3; c++)
            {
                for (var k = 0; k < 3; k++)
                {
                    result[l, c] += a[k, l] * inverse[k, c];
                }
            }
        }

        return result;
    }

    /// <summary>A normalised 1-D Gaussian of the given width, 3 sigma either side.</summary>
    public static double[] Gaussian(double sigma)
    {
        var radius = (int)Math.Ceiling(3 * sigma);
        var weights = new double[(2 * radius) + 1];
        for (var i = 0; i < weights.Length; i++)
        {
            var x = (i - radius) / sigma;
            weights[i] = Math.Exp(-0.5 * x * x);
        }

        var sum = weights.Sum();
        return [.. weights.Select(w => w / sum)];
    }

    /// <summary>A light 3x3 smoothing kernel, [channels, 1, 3, 3].</summary>
    public static float[] SmoothingKernel3x3(int channels) => DepthwiseKernel([0.25, 0.5, 0.25], channels);

    /// <summary>
    /// The share of white noise's variance that passes the coarse band (the coarse 2-D Gaussian) and the fine band
    /// (the fine Gaussian minus the coarse one): the fraction of the spectrum each band covers.
    /// </summary>
    public static (double Coarse, double Fine) BandNoiseShares()
    {
        var coarse = Gaussian(CoarseSigma);
        var fine = Gaussian(FineSigma);
        var offset = (coarse.Length - fine.Length) / 2;
        var coarseSquares = coarse.Sum(w => w * w);
        var fineSquares = fine.Sum(w => w * w);
        var cross = fine.Select((w, i) => w * coarse[i + offset]).Sum();
        return (coarseSquares * coarseSquares,
            (fineSquares * fineSquares) - (2 * cross * cross) + (coarseSquares * coarseSquares));
    }

    /// <summary>The text encoder's <c>last_hidden_state</c>, [ids, hidden], computed in double precision.</summary>
    public float[] HiddenStates(ReadOnlySpan<int> ids)
    {
        var layers = LayerStates(ids);
        var hidden = new float[ids.Length * HiddenSize];
        for (var p = 0; p < ids.Length; p++)
        {
            var row = layers[^1].AsSpan(p * HiddenSize, HiddenSize);
            if (TextEncoderLayers == 0)
            {
                for (var i = 0; i < HiddenSize; i++)
                {
                    hidden[(p * HiddenSize) + i] = (float)Math.Tanh(row[i]);
                }

                continue;
            }

            var mean = 0.0;
            foreach (var v in row)
            {
                mean += v;
            }

            mean /= HiddenSize;
            var variance = 0.0;
            foreach (var v in row)
            {
                variance += (v - mean) * (v - mean);
            }

            var inverse = 1.0 / Math.Sqrt((variance / HiddenSize) + LayerNormEpsilon);
            for (var i = 0; i < HiddenSize; i++)
            {
                hidden[(p * HiddenSize) + i] = (float)((((row[i] - mean) * inverse) * FinalNormScale[i]) + FinalNormBias[i]);
            }
        }

        return hidden;
    }

    /// <summary>
    /// The text encoder's states before its last activation or norm, [layers + 1][ids x hidden] in double precision:
    /// the projected embeddings, then each layer's output (the <c>hidden_states.N</c> outputs when it has layers).
    /// </summary>
    public double[][] LayerStates(ReadOnlySpan<int> ids)
    {
        var states = new double[TextEncoderLayers + 1][];
        var embedded = states[0] = new double[ids.Length * HiddenSize];
        Span<double> token = stackalloc double[TokenEmbeddingSize];
        for (var p = 0; p < ids.Length; p++)
        {
            for (var k = 0; k < TokenEmbeddingSize; k++)
            {
                token[k] = TokenEmbedding[(ids[p] * TokenEmbeddingSize) + k] + PositionEmbedding[(p * TokenEmbeddingSize) + k];
            }

            for (var i = 0; i < HiddenSize; i++)
            {
                var sum = 0.0;
                for (var k = 0; k < TokenEmbeddingSize; k++)
                {
                    sum += token[k] * TextProjection[(k * HiddenSize) + i];
                }

                embedded[(p * HiddenSize) + i] = sum;
            }
        }

        for (var layer = 1; layer <= TextEncoderLayers; layer++)
        {
            var previous = states[layer - 1];
            var current = states[layer] = new double[previous.Length];
            for (var j = 0; j < previous.Length; j++)
            {
                var i = j % HiddenSize;
                current[j] = previous[j] + Math.Tanh((previous[j] * LayerScale[layer - 1][i]) + LayerShift[layer - 1][i]);
            }
        }

        return states;
    }

    private static float[] DepthwiseKernel(double[] oneAxis, int channels)
    {
        var size = oneAxis.Length;
        var kernel = new float[channels * size * size];
        for (var c = 0; c < channels; c++)
        {
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    kernel[(c * size * size) + (y * size) + x] = (float)(oneAxis[y] * oneAxis[x]);
                }
            }
        }

        return kernel;
    }

    private static double[,] Invert3x3(double[,] m)
    {
        var det = (m[0, 0] * ((m[1, 1] * m[2, 2]) - (m[1, 2] * m[2, 1])))
            - (m[0, 1] * ((m[1, 0] * m[2, 2]) - (m[1, 2] * m[2, 0])))
            + (m[0, 2] * ((m[1, 0] * m[2, 1]) - (m[1, 1] * m[2, 0])));
        var inverse = new double[3, 3];
        for (var i = 0; i < 3; i++)
        {
            for (var j = 0; j < 3; j++)
            {
                // Cofactor of (j, i) over the determinant: the adjugate's entry (i, j).
                int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
                inverse[i, j] = ((m[r0, c0] * m[r1, c1]) - (m[r0, c1] * m[r1, c0])) / det;
            }
        }

        return inverse;
    }
}
