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
    public const float VaeScalingFactor = 0.18215f;
    public const int BosTokenId = 49406;
    public const int EosTokenId = 49407;

    /// <summary>Largest tint a prompt adds to the clean latents; guidance 7.5 turns it into about 4 times that.</summary>
    public const float TintAmplitude = 0.15f;

    /// <summary>Log-variance the VAE encoder reports: sampling from it is practically the mean.</summary>
    public const float EncoderLogVariance = -10f;

    /// <summary>
    /// Prior variance of the smooth part of a clean latent; it sets the UNet's gain and so how much contrast the
    /// denoised latents keep (a standard deviation of about 0.8).
    /// </summary>
    public const double SmoothPriorVariance = 2.0;

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

    // Normalised 5x5 binomial kernel (about a Gaussian with sigma 1) used by the UNet's smoothing.
    private static readonly double[] Binomial5 = [1 / 16.0, 4 / 16.0, 6 / 16.0, 4 / 16.0, 1 / 16.0];

    // Scales the tint projection so that a few-token prompt moves the tint's pre-activation by about 1.
    private const double TintSensitivity = 80.0;

    public DemoModelWeights(int hiddenSize, int seed)
    {
        HiddenSize = hiddenSize;
        TokenEmbedding = new DeterministicRandom(seed, "text_encoder.token_embedding")
            .Uniform(ClipVocabularyFiles.VocabularySize * TokenEmbeddingSize, 1.0);
        PositionEmbedding = new DeterministicRandom(seed, "text_encoder.position_embedding")
            .Uniform(DemoModelSignature.MaxSequenceLength * TokenEmbeddingSize, 0.5);
        TextProjection = new DeterministicRandom(seed, "text_encoder.projection")
            .Uniform(TokenEmbeddingSize * hiddenSize, 1.0 / Math.Sqrt(TokenEmbeddingSize));
        TintProjection = new DeterministicRandom(seed, "unet.tint_projection")
            .Uniform(hiddenSize * LatentChannels, TintSensitivity / Math.Sqrt(hiddenSize));

        // The bias cancels the empty prompt (BOS then EOS padding, as CLIP pads): it gets no tint at all, so
        // classifier-free guidance amplifies only what the prompt adds.
        var empty = new int[DemoModelSignature.MaxSequenceLength];
        Array.Fill(empty, EosTokenId);
        empty[0] = BosTokenId;
        var emptyMean = MeanHiddenState(empty);
        TintBias = new float[LatentChannels];
        for (var c = 0; c < LatentChannels; c++)
        {
            var sum = 0.0;
            for (var i = 0; i < hiddenSize; i++)
            {
                sum += emptyMean[i] * TintProjection[(i * LatentChannels) + c];
            }

            TintBias[c] = (float)-sum;
        }
    }

    public int HiddenSize { get; }

    /// <summary>[49408, 8].</summary>
    public float[] TokenEmbedding { get; }

    /// <summary>[77, 8], added to the token embeddings so that the same token at another place differs.</summary>
    public float[] PositionEmbedding { get; }

    /// <summary>[8, hidden].</summary>
    public float[] TextProjection { get; }

    /// <summary>[hidden, 4]: the mean text embedding to the latent tint.</summary>
    public float[] TintProjection { get; }

    /// <summary>[4].</summary>
    public float[] TintBias { get; }

    /// <summary>
    /// RGB to unscaled latents, [4, 3]: the pseudo-inverse of <see cref="LatentToRgb"/> divided by the scaling factor,
    /// so that decode(encode(image)) gives the image back where it is smooth.
    /// </summary>
    public static float[] RgbToUnscaledLatent()
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
        var result = new float[4 * 3];
        for (var l = 0; l < 4; l++)
        {
            for (var c = 0; c < 3; c++)
            {
                var sum = 0.0;
                for (var k = 0; k < 3; k++)
                {
                    sum += a[k, l] * inverse[k, c];
                }

                result[(l * 3) + c] = (float)(sum / VaeScalingFactor);
            }
        }

        return result;
    }

    /// <summary>The UNet's smoothing kernel, [4, 1, 5, 5] (one per latent channel).</summary>
    public static float[] SmoothingKernel5x5(int channels) => DepthwiseKernel(Binomial5, channels);

    /// <summary>A light 3x3 smoothing kernel, [channels, 1, 3, 3].</summary>
    public static float[] SmoothingKernel3x3(int channels) => DepthwiseKernel([0.25, 0.5, 0.25], channels);

    /// <summary>Sum of the squared weights of the 5x5 kernel: the factor by which it reduces white noise's variance.</summary>
    public static double SmoothingNoiseReduction()
    {
        var oneAxis = Binomial5.Sum(w => w * w);
        return oneAxis * oneAxis;
    }

    /// <summary>The text encoder's forward pass averaged over the sequence, in double precision.</summary>
    public double[] MeanHiddenState(ReadOnlySpan<int> ids)
    {
        var mean = new double[HiddenSize];
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

                mean[i] += Math.Tanh(sum) / ids.Length;
            }
        }

        return mean;
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
